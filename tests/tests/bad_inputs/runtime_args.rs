//! `edgelm run / perplexity / bench / info` with arguments out of range, not numbers, or
//! naming files that are missing, folders, FIFOs, devices, empty or not UTF-8.

use crate::gguf_case::{BENCH_ARGS, PERPLEXITY_ARGS, RUN_ARGS};
use crate::harness::{case_dir, Bin, Case};
use crate::hf_case::make_fifo;
use edgelm_tests::tiny_gguf::TinyGguf;

const GROUP: &str = "runtime_args";

/// A folder with a valid model, a text to score and every kind of bad file.
fn folder(index: usize, model: &[u8]) -> std::path::PathBuf {
    let dir = case_dir(GROUP, index);
    std::fs::write(dir.join("model.gguf"), model).unwrap();
    std::fs::write(dir.join("text.txt"), "ab a ".repeat(200)).unwrap();
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    std::fs::write(dir.join("latin1.txt"), b"caf\xe9 ab a\n").unwrap();
    std::fs::write(dir.join("short.txt"), "ab").unwrap();
    std::fs::create_dir(dir.join("folder")).unwrap();
    make_fifo(&dir.join("fifo"));
    dir
}

/// A command, one of its numeric flags, values it must refuse, values it may accept.
type NumericFlag<'a> = (&'a [&'a str], &'a str, Vec<&'a str>, Vec<&'a str>);

pub fn cases() -> Vec<Case> {
    let model = TinyGguf::llama().bytes();
    let mut m = TinyGguf::llama();
    m.set(
        "llama.context_length",
        edgelm_runtime::gguf::MetaValue::U32(u32::MAX),
    );
    let huge_ctx = m.bytes();
    // `edgelm run` without its `--temp 0`, which cases here set themselves.
    let run: [&str; 7] = RUN_ARGS[..7].try_into().expect("7 of RUN_ARGS");
    let ppl = PERPLEXITY_ARGS;
    let bench = BENCH_ARGS;
    let not_numbers = ["x", "", "1e3x", "NaN"];

    // (command, flag, bad values, values that may also run cleanly)
    let numeric: Vec<NumericFlag> = vec![
        (&run, "--n-predict", vec!["-2"], vec!["100000000"]),
        (
            &run,
            "--threads",
            vec!["-1", "100000", "18446744073709551616"],
            vec![],
        ),
        // --ctx 0 is the model's own context, as in llama.cpp; a batch past the prompt
        // is the prompt.
        (
            &run,
            "--ctx",
            vec!["1", "-1", "1000000000", "4294967296"],
            vec!["0"],
        ),
        (&run, "--batch", vec!["0", "-1"], vec!["1000000000"]),
        (&run, "--temp", vec!["nan", "inf", "-1", "-inf"], vec![]),
        (&run, "--top-k", vec!["-1"], vec!["1000000000"]),
        (&run, "--top-p", vec!["nan", "-0.1", "1.5", "inf"], vec![]),
        (&run, "--min-p", vec!["nan", "-1", "2"], vec![]),
        (
            &run,
            "--repeat-penalty",
            vec!["0", "nan", "-1", "inf"],
            vec![],
        ),
        (&run, "--repeat-last-n", vec!["-2"], vec!["1000000000"]),
        (&run, "--seed", vec!["-1"], vec![]),
        (&run, "--kv-type", vec!["q9", "f64"], vec![]),
        (&run, "--device", vec!["tpu", "cuda:x"], vec![]),
        (
            &ppl,
            "--ctx",
            vec!["0", "1", "2", "3", "-1", "1000000000"],
            vec![],
        ),
        (&ppl, "--chunks", vec!["0", "-1"], vec![]),
        (&ppl, "--threads", vec!["100000", "-1"], vec![]),
        (&bench, "--prompt", vec!["-1", "1000000000"], vec!["0"]),
        (&bench, "--gen", vec!["-1", "1000000000"], vec!["0"]),
        (&bench, "--reps", vec!["0", "-1"], vec![]),
        (&bench, "--threads", vec!["100000"], vec![]),
        (&bench, "--device", vec!["tpu"], vec![]),
    ];
    let mut specs: Vec<(Vec<String>, String, bool)> = Vec::new();
    let owned = |base: &[&str], extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    for (base, flag, bad, maybe) in &numeric {
        let values = bad
            .iter()
            .map(|v| (*v, false))
            .chain(maybe.iter().map(|v| (*v, true)))
            .chain(
                // Text where a number belongs, once per numeric flag.
                (!flag.contains("kv-type") && !flag.contains("device"))
                    .then_some(not_numbers.iter().map(|v| (*v, false)))
                    .into_iter()
                    .flatten(),
            );
        for (v, ok) in values {
            specs.push((owned(base, &[&format!("{flag}={v}")]), flag.to_string(), ok));
        }
    }
    // Files that are not what the flag wants.
    for bad in [
        "missing.gguf",
        "folder",
        "fifo",
        "/dev/zero",
        "/dev/null",
        "empty.txt",
        "text.txt",
    ] {
        for cmd in [&run[..], &ppl[..], &bench[..]] {
            let mut a = owned(cmd, &[]);
            a[2] = bad.to_string();
            specs.push((a, bad.to_string(), false));
        }
        specs.push((owned(&["info", bad], &[]), bad.to_string(), false));
    }
    for bad in [
        "missing.txt",
        "folder",
        "fifo",
        "/dev/zero",
        "empty.txt",
        "latin1.txt",
    ] {
        specs.push((
            owned(&["run", "-m", "model.gguf", "-n", "2", "-f", bad], &[]),
            bad.to_string(),
            // An empty prompt file runs on BOS alone.
            bad == "empty.txt",
        ));
        specs.push((
            owned(
                &["perplexity", "-m", "model.gguf", "-c", "8", "-f", bad],
                &[],
            ),
            bad.to_string(),
            false,
        ));
    }
    // Text too short for even one chunk.
    specs.push((
        owned(
            &[
                "perplexity",
                "-m",
                "model.gguf",
                "-c",
                "8",
                "-f",
                "short.txt",
            ],
            &[],
        ),
        "short.txt".into(),
        false,
    ));
    // A prompt longer than the context.
    specs.push((
        owned(&run[..3], &["--ctx", "4", "-p", &"ab a ".repeat(20)]),
        "--ctx".into(),
        false,
    ));
    // A context the file claims, asked for in full: a KV cache larger than memory is
    // refused before it is allocated.
    let huge = specs.len();
    specs.push((owned(&run, &["--ctx", "1000000000"]), "--ctx".into(), false));
    // Both a prompt and a prompt file.
    specs.push((owned(&run, &["-f", "text.txt"]), "--prompt".into(), false));
    // No model at all.
    specs.push((owned(&["run", "-p", "ab"], &[]), "--model".into(), false));

    specs
        .into_iter()
        .enumerate()
        .map(|(i, (args, mention, ok))| {
            let dir = folder(i, if i == huge { &huge_ctx } else { &model });
            let c = Case::new(args.join(" "), Bin::Edgelm, &dir)
                .args(args)
                .mentions(mention);
            if ok {
                c.or_ok()
            } else {
                c
            }
        })
        .collect()
}
