//! Builds C programs against `libedgelm.a` and `targets/include/edgelm.h` with the
//! system C compiler (`CC`, else `cc`) and runs them: `layout.c` checks that the header
//! agrees with the Rust definitions, and the example `targets/examples/c/main.c` must
//! stream Hugging Face's greedy continuation on the tiny llama fixture.
#![cfg(target_os = "linux")]

use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use edgelm::*;

/// What rustc's `--print native-static-libs` lists for Linux.
const LINUX_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `libedgelm.a` built with this test: cargo compiles the library's staticlib and
/// rlib together, next to this test binary in `deps/`; the newest one is this build's.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let newest = std::fs::read_dir(deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("libedgelm-") && name.ends_with(".a")
        })
        .max_by_key(|p| {
            p.metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
    newest.unwrap_or_else(|| panic!("no libedgelm-*.a in {}", deps.display()))
}

/// Compiles `source` into a program in a temporary folder.
fn build(source: &Path, name: &str) -> PathBuf {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let lib = static_lib();
    let out = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-I")
        .arg(root().join("targets/include"))
        .arg("-o")
        .arg(&exe)
        .arg(source)
        .arg(&lib)
        .args(LINUX_LIBS)
        .output()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(
        out.status.success(),
        "{cc} {} with {} failed:\n{}",
        source.display(),
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The value after `prefix` on the line that starts with it.
fn line_after<'a>(s: &'a str, prefix: &str) -> &'a str {
    s.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line '{prefix}' in:\n{s}"))
        .trim()
}

fn ids_after(s: &str, prefix: &str) -> Vec<u32> {
    line_after(s, prefix)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn expected() -> serde_json::Value {
    let path = root().join("targets/capi/tests/fixtures/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn header_matches_the_rust_definitions() {
    let exe = build(&root().join("targets/capi/tests/layout.c"), "layout");
    let out = run(&exe, &[]);
    assert!(out.status.success());
    let got: std::collections::BTreeMap<String, String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let mut want: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| want.push((k.to_string(), v));
    for (code, name) in [
        (EDGELM_OK, "EDGELM_OK"),
        (EDGELM_ERR_INVALID_ARGUMENT, "EDGELM_ERR_INVALID_ARGUMENT"),
        (EDGELM_ERR_IO, "EDGELM_ERR_IO"),
        (EDGELM_ERR_BAD_MODEL, "EDGELM_ERR_BAD_MODEL"),
        (EDGELM_ERR_PROMPT_TOO_LONG, "EDGELM_ERR_PROMPT_TOO_LONG"),
        (EDGELM_ERR_BUFFER_TOO_SMALL, "EDGELM_ERR_BUFFER_TOO_SMALL"),
        (EDGELM_ERR_CHAT_TEMPLATE, "EDGELM_ERR_CHAT_TEMPLATE"),
        (EDGELM_ERR_BUSY, "EDGELM_ERR_BUSY"),
        (EDGELM_ERR_SYSTEM, "EDGELM_ERR_SYSTEM"),
        (EDGELM_ERR_INTERNAL, "EDGELM_ERR_INTERNAL"),
    ] {
        put(name, code.to_string());
    }
    for (code, name) in [
        (EDGELM_STOP_NONE, "EDGELM_STOP_NONE"),
        (
            EDGELM_STOP_END_OF_GENERATION,
            "EDGELM_STOP_END_OF_GENERATION",
        ),
        (EDGELM_STOP_MAX_TOKENS, "EDGELM_STOP_MAX_TOKENS"),
        (EDGELM_STOP_CONTEXT_FULL, "EDGELM_STOP_CONTEXT_FULL"),
        (EDGELM_STOP_CALLBACK, "EDGELM_STOP_CALLBACK"),
        (EDGELM_STOP_CANCELLED, "EDGELM_STOP_CANCELLED"),
    ] {
        put(name, code.to_string());
    }
    put("EDGELM_SEED_RANDOM", EDGELM_SEED_RANDOM.to_string());
    put("EDGELM_TOKEN_NONE", EDGELM_TOKEN_NONE.to_string());
    put("sizeof(edgelm_status)", size_of::<Status>().to_string());

    macro_rules! layout {
        ($t:ident: $($f:ident),+) => {
            put(concat!("sizeof(", stringify!($t), ")"), size_of::<$t>().to_string());
            put(concat!("alignof(", stringify!($t), ")"), align_of::<$t>().to_string());
            $(put(concat!(stringify!($t), ".", stringify!($f)), offset_of!($t, $f).to_string());)+
        };
    }
    layout!(edgelm_model_info: vocab_size, n_ctx_train, n_layer, n_embd, load_ms, file_mib,
        has_chat_template);
    layout!(edgelm_chat_message: role, content);
    layout!(edgelm_session_options: n_ctx, n_batch, n_threads, temperature, top_k, top_p,
        min_p, repeat_penalty, repeat_last_n, seed, precise);
    layout!(edgelm_report: load_ms, ttft_ms, prefill_ms, prefill_tok_s, decode_ms,
        decode_tok_s, peak_rss_mib, model_mapped_mib, kv_cache_mib, prompt_tokens,
        generated_tokens, n_ctx, n_threads, stop_reason);

    let d = edgelm_session_default_options();
    put("default.n_ctx", d.n_ctx.to_string());
    put("default.n_batch", d.n_batch.to_string());
    put("default.n_threads", d.n_threads.to_string());
    put("default.temperature", d.temperature.to_string());
    put("default.top_k", d.top_k.to_string());
    put("default.top_p", d.top_p.to_string());
    put("default.min_p", d.min_p.to_string());
    put("default.repeat_penalty", d.repeat_penalty.to_string());
    put("default.repeat_last_n", d.repeat_last_n.to_string());
    put("default.seed", d.seed.to_string());
    put("default.precise", u8::from(d.precise).to_string());
    for (code, msg) in STATUS_MESSAGES {
        put(
            &format!("message.{code}"),
            msg.to_str().unwrap().to_string(),
        );
    }
    put(
        &format!("message.{}", EDGELM_ERR_INTERNAL + 1),
        "unknown status code".into(),
    );
    put("functions", "14".into());

    for (k, v) in &want {
        assert_eq!(
            got.get(k),
            Some(v),
            "{k}: C says {:?}, Rust {v}",
            got.get(k)
        );
    }
    // Nothing printed by the C side goes unchecked.
    assert_eq!(got.len(), want.len(), "C printed {got:?}");
}

#[test]
fn example_streams_the_reference_greedy_continuation() {
    let exe = build(&root().join("targets/examples/c/main.c"), "edgelm_example");
    let model = root().join("tests/fixtures/tiny/llama.gguf");
    let model = model.to_str().unwrap();
    let exp = expected();
    let prompt = exp["prompt"].as_str().unwrap();

    let out = run(&exe, &[model, prompt, "-n", "8", "--greedy", "--precise"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        ids_after(&stderr, "prompt ids:"),
        json_ids(&exp["prompt_ids"])
    );
    assert_eq!(
        ids_after(&stderr, "generated ids:"),
        json_ids(&exp["greedy_ids"])
    );
    assert_eq!(
        stdout,
        format!("{}\n", exp["greedy_text"].as_str().unwrap())
    );
    assert_eq!(line_after(&stderr, "stop:"), "max_tokens");
    assert!(stderr.contains("generated 8 tokens"), "{stderr}");
    assert!(
        stderr.contains("model: vocab 49152, 2 layers, context 512"),
        "{stderr}"
    );

    // The callback stops after 3 tokens; a cancel after 5 leaves 5.
    for (flag, n, stop) in [
        ("--stop-after", 3, "callback"),
        ("--cancel-after", 5, "cancelled"),
    ] {
        let out = run(
            &exe,
            &[
                model,
                prompt,
                "-n",
                "8",
                "--greedy",
                "--precise",
                flag,
                &n.to_string(),
            ],
        );
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            ids_after(&stderr, "generated ids:"),
            json_ids(&exp["greedy_ids"])[..n],
            "{flag}"
        );
        assert_eq!(line_after(&stderr, "stop:"), stop);
        assert!(
            stderr.contains(&format!("generated {n} tokens")),
            "{stderr}"
        );
    }
}

#[test]
fn example_reports_errors_and_exits_non_zero() {
    let exe = build(
        &root().join("targets/examples/c/main.c"),
        "edgelm_example_err",
    );
    let missing = root().join("tests/fixtures/tiny/no-such-model.gguf");
    let out = run(&exe, &[missing.to_str().unwrap(), "hi"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: loading the model: cannot read the file (2): ")
            && stderr.contains("no-such-model.gguf"),
        "{stderr}"
    );
    // Not a GGUF file: the C source itself.
    let src = root().join("targets/examples/c/main.c");
    let out = run(&exe, &[src.to_str().unwrap(), "hi"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not a model edgelm can run (3)"),
        "{stderr}"
    );

    // A context too small for the prompt.
    let model = root().join("tests/fixtures/tiny/llama.gguf");
    let out = run(
        &exe,
        &[
            model.to_str().unwrap(),
            "one two three four five",
            "--ctx",
            "2",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: generating: the prompt does not fit"),
        "{stderr}"
    );
}
