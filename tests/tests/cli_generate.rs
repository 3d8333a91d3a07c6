//! `edgelm run`'s generation limits: stop strings (also across token boundaries, never
//! printed), --ignore-eos, and `-n -1` (until a full context). Greedy (`--temp 0`), so
//! every run of the same prompt gives the same tokens.

use std::path::Path;
use std::process::Command;

use edgelm_runtime::gguf::{GgufFile, MetaValue};
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_tests::tiny_gguf::TinyGguf;
use edgelm_tests::{fixtures_dir, workspace_bin};
use serde_json::Value;

/// `edgelm run -m model --temp 0 args...`: exit code, stdout, stderr.
fn run(model: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(workspace_bin("edgelm"))
        .args(["run", "--temp", "0", "-m"])
        .arg(model)
        .args(args)
        .output()
        .expect("start edgelm");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_json(model: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = run(model, &all);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn ids(v: &Value) -> Vec<u32> {
    v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn a_stop_string_across_tokens_ends_the_text_right_before_it() {
    let model = fixtures_dir().join("tiny/llama.gguf");
    let tok = Tokenizer::from_gguf(&GgufFile::open(&model).unwrap()).unwrap();
    let free = run_json(&model, &["-p", "ab a", "-n", "30"]);
    let pieces: Vec<String> = ids(&free)
        .iter()
        .map(|&t| String::from_utf8(tok.decode_token(t)).unwrap())
        .collect();
    // A stop string made of the end of one token and the start of the next, at the
    // first boundary where both have three characters and the string appears nowhere
    // earlier.
    let whole: String = pieces.concat();
    let (k, stop, at) = (0..pieces.len() - 1)
        .find_map(|k| {
            let (a, b) = (&pieces[k], &pieces[k + 1]);
            if a.chars().count() < 3 || b.chars().count() < 3 || !a.is_ascii() || !b.is_ascii() {
                return None;
            }
            let stop = format!("{}{}", &a[a.len() - 3..], &b[..3]);
            let at: usize = pieces[..=k].iter().map(String::len).sum::<usize>() - 3;
            (whole.find(&stop) == Some(at)).then_some((k, stop, at))
        })
        .expect("two neighbouring tokens of 3+ ASCII characters");

    let (code, out, err) = run(&model, &["-p", "ab a", "-n", "30", "--stop", &stop]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{}\n", &whole[..at]), "stop {stop:?}");
    assert!(err.contains("stopped: stop_string"), "{err}");

    // -r is the same flag; --json's text is cut the same way, and generation ends as
    // soon as the stop string is complete: at token k + 1.
    let cut = run_json(
        &model,
        &["-p", "ab a", "-n", "30", "-r", "zzzq", "-r", &stop],
    );
    assert_eq!(cut["text"], whole[..at], "stop {stop:?}");
    assert_eq!(cut["stop"], "stop_string");
    assert_eq!(cut["stop_string"], stop.as_str());
    assert_eq!(cut["generated_tokens"], k + 2);
    // A stop string that never appears changes nothing.
    let same = run_json(&model, &["-p", "ab a", "-n", "30", "--stop", "\u{1}never"]);
    assert_eq!(same["text"], free["text"]);
    assert_eq!(same["stop"], "max_tokens");
}

#[test]
fn ignore_eos_generates_past_the_end_of_generation_token() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("edgelm-eos-{}.gguf", std::process::id()));
    let mut m = TinyGguf::llama();
    m.write(&path);
    // Make the first token greedy decoding picks the end-of-generation token.
    let first = ids(&run_json(&path, &["-p", "ab", "-n", "1"]))[0];
    m.set("tokenizer.ggml.eos_token_id", MetaValue::U32(first));
    m.write(&path);
    let ends = run_json(&path, &["-p", "ab", "-n", "5"]);
    assert_eq!(ends["stop"], "eog");
    assert_eq!(ends["generated_tokens"], 1);
    let goes_on = run_json(&path, &["-p", "ab", "-n", "5", "--ignore-eos"]);
    assert_eq!(goes_on["stop"], "max_tokens");
    assert_eq!(goes_on["generated_tokens"], 5);
    std::fs::remove_file(&path).ok();
}

#[test]
fn n_minus_one_generates_until_the_context_is_full() {
    let model = fixtures_dir().join("tiny/llama.gguf");
    let j = run_json(&model, &["-p", "ab a", "-n", "-1", "--ctx", "24"]);
    assert_eq!(j["stop"], "context_full");
    assert_eq!(j["n_ctx"], 24);
    // Every position holds a prompt or generated token; the last one sampled is not
    // evaluated, so it needs no position.
    let prompt = j["prompt_tokens"].as_u64().unwrap();
    assert_eq!(j["generated_tokens"].as_u64().unwrap(), 24 - prompt + 1);
    // Below -1 is refused, naming the flag.
    let (code, _, err) = run(&model, &["-p", "ab", "-n", "-2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--n-predict") && err.contains("-1"), "{err}");
}
