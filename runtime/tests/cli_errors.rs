//! Bad input to the `edgelm` binary: exit code 1 with a message naming the file and
//! the problem — never a panic (101), a crash or a hang.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::{GgufWriter, MetaValue};

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn edgelm(args: &[&str]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgelm"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start edgelm");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .ok();
            return Outcome {
                code: status.code(),
                stderr,
            };
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("edgelm {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("edgelm-cli-{}-{name}", std::process::id()))
}

/// A small but complete `llama` model file: 1 layer, embedding 32, vocab 8.
fn tiny_llama(arch: &str) -> Vec<u8> {
    tiny_llama_with(arch, &[], 0.01)
}

/// [`tiny_llama`] with metadata `extra` (`{arch}.` keys) added and every weight
/// starting at `weight`.
fn tiny_llama_with(arch: &str, extra: &[(&str, MetaValue)], weight: f32) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in extra {
        w.add_metadata(format!("{arch}.{k}"), v.clone());
    }
    let (d, ff, vocab) = (32u64, 64u64, 8u64);
    w.add_metadata("general.architecture", MetaValue::String(arch.into()));
    for (k, v) in [
        ("block_count", 1u32),
        ("embedding_length", d as u32),
        ("feed_forward_length", ff as u32),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 2),
        ("context_length", 64),
    ] {
        if !extra.iter().any(|(e, _)| *e == k) {
            w.add_metadata(format!("{arch}.{k}"), MetaValue::U32(v));
        }
    }
    let tokens: Vec<String> = ["<s>", "</s>", "a", "b", "c", "d", "e", " "]
        .iter()
        .map(|s| s.to_string())
        .collect();
    w.add_metadata("tokenizer.ggml.model", MetaValue::String("gpt2".into()));
    w.add_metadata("tokenizer.ggml.pre", MetaValue::String("gpt2".into()));
    w.add_metadata(
        "tokenizer.ggml.tokens",
        MetaValue::Array(edgelm_runtime::gguf::MetaArray::String(tokens.into())),
    );
    w.add_metadata(
        "tokenizer.ggml.merges",
        MetaValue::Array(edgelm_runtime::gguf::MetaArray::String(Default::default())),
    );
    let f32s = |n: u64, v: f32| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (v + i as f32 * 1e-3).to_le_bytes())
            .collect()
    };
    let mut add = |name: &str, dims: Vec<u64>| {
        let n = dims.iter().product();
        w.add_tensor(name, dims, GgmlType::F32, f32s(n, weight))
            .expect("valid tensor");
    };
    add("token_embd.weight", vec![d, vocab]);
    add("output_norm.weight", vec![d]);
    add("blk.0.attn_norm.weight", vec![d]);
    add("blk.0.attn_q.weight", vec![d, d]);
    add("blk.0.attn_k.weight", vec![d, d / 2]);
    add("blk.0.attn_v.weight", vec![d, d / 2]);
    add("blk.0.attn_output.weight", vec![d, d]);
    add("blk.0.ffn_norm.weight", vec![d]);
    add("blk.0.ffn_gate.weight", vec![d, ff]);
    add("blk.0.ffn_up.weight", vec![d, ff]);
    add("blk.0.ffn_down.weight", vec![ff, d]);
    w.to_bytes()
}

fn assert_clean_failure(args: &[&str], file: &Path, what: &str) {
    let o = edgelm(args);
    assert_eq!(
        o.code,
        Some(1),
        "{what}: edgelm {args:?} should exit 1, got {:?}; stderr:\n{}",
        o.code,
        o.stderr
    );
    assert!(
        !o.stderr.contains("panicked"),
        "{what}: panic: {}",
        o.stderr
    );
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        o.stderr.contains(name.as_ref()),
        "{what}: message should name {name}: {}",
        o.stderr
    );
}

#[test]
fn the_tiny_model_runs() {
    let path = temp_path("ok.gguf");
    std::fs::write(&path, tiny_llama("llama")).unwrap();
    let p = path.to_str().unwrap();
    let o = edgelm(&["run", "-m", p, "-p", "abc", "-n", "4", "--temp", "0"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("tok/s"), "report expected: {}", o.stderr);
    let o = edgelm(&["info", p]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    std::fs::remove_file(&path).ok();
}

#[test]
fn truncated_files_fail_cleanly() {
    let bytes = tiny_llama("llama");
    let path = temp_path("truncated.gguf");
    let p = path.to_str().unwrap().to_string();
    // A spread of cut points through the header, metadata, tensor infos and data.
    let cuts: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 40 + 1).collect();
    for cut in cuts {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_clean_failure(
            &["run", "-m", &p, "-p", "a", "-n", "2"],
            &path,
            &format!("cut at {cut}"),
        );
        assert_clean_failure(&["info", &p], &path, &format!("info, cut at {cut}"));
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn corrupt_files_never_panic() {
    let bytes = tiny_llama("llama");
    let path = temp_path("flipped.gguf");
    let p = path.to_str().unwrap().to_string();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..60 {
        let mut b = bytes.clone();
        // Overwrite a few bytes in the header/metadata region where structure lives.
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state as usize) % 600.min(b.len());
            b[at] = (state >> 32) as u8;
        }
        std::fs::write(&path, &b).unwrap();
        let o = edgelm(&["run", "-m", &p, "-p", "a", "-n", "2", "--temp", "0"]);
        assert!(
            o.code == Some(0) || o.code == Some(1),
            "round {round}: exit {:?}: {}",
            o.code,
            o.stderr
        );
        assert!(
            !o.stderr.contains("panicked"),
            "round {round}: {}",
            o.stderr
        );
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let path = temp_path("gptj.gguf");
    std::fs::write(&path, tiny_llama("gptj")).unwrap();
    let p = path.to_str().unwrap();
    assert_clean_failure(&["run", "-m", p, "-p", "a"], &path, "gptj");
    let o = edgelm(&["run", "-m", p, "-p", "a"]);
    assert!(o.stderr.contains("gptj") && o.stderr.contains("llama, qwen2"));
    std::fs::remove_file(&path).ok();
}

#[test]
fn missing_and_non_gguf_files_fail_cleanly() {
    let missing = temp_path("does-not-exist.gguf");
    assert_clean_failure(
        &["run", "-m", missing.to_str().unwrap(), "-p", "a"],
        &missing,
        "missing",
    );
    let text = temp_path("notes.gguf");
    std::fs::write(&text, "this is not a model\n").unwrap();
    assert_clean_failure(&["info", text.to_str().unwrap()], &text, "text file");
    std::fs::remove_file(&text).ok();
}

#[test]
fn a_prompt_longer_than_the_context_is_an_error_and_a_full_context_stops_cleanly() {
    let path = temp_path("ctx.gguf");
    std::fs::write(&path, tiny_llama("llama")).unwrap();
    let p = path.to_str().unwrap();
    let o = edgelm(&["run", "-m", p, "-p", "abcabcabcabc", "--ctx", "4"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("--ctx"), "{}", o.stderr);
    let o = edgelm(&[
        "run", "-m", p, "-p", "ab", "--ctx", "6", "-n", "50", "--temp", "0",
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("context is full"), "{}", o.stderr);
    std::fs::remove_file(&path).ok();
}

/// Settings out of range or not numbers: exit 1 naming the setting, before any work.
#[test]
fn bad_settings_are_refused() {
    let path = temp_path("settings.gguf");
    std::fs::write(&path, tiny_llama("llama")).unwrap();
    let p = path.to_str().unwrap();
    let text = temp_path("settings.txt");
    std::fs::write(&text, "abc ".repeat(50)).unwrap();
    let t = text.to_str().unwrap();
    for (args, flag) in [
        (vec!["run", "-m", p, "-p", "a", "--temp", "NaN"], "--temp"),
        (vec!["run", "-m", p, "-p", "a", "--temp=-1"], "--temp"),
        (vec!["run", "-m", p, "-p", "a", "--top-p", "2"], "--top-p"),
        (
            vec!["run", "-m", p, "-p", "a", "--repeat-penalty", "0"],
            "--repeat-penalty",
        ),
        (
            vec!["run", "-m", p, "-p", "a", "--threads", "100000"],
            "--threads",
        ),
        (vec!["perplexity", "-m", p, "-f", t, "-c", "0"], "--ctx"),
        (
            vec!["perplexity", "-m", p, "-f", t, "--chunks", "0"],
            "--chunks",
        ),
    ] {
        let o = edgelm(&args);
        assert_eq!(o.code, Some(1), "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(flag),
            "{args:?} should name {flag}: {}",
            o.stderr
        );
    }
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&text).ok();
}

/// A file claiming a context of 10⁹ positions, run at that length: refused with a
/// message before the cache is allocated, not aborted by the allocator.
#[test]
fn a_kv_cache_larger_than_memory_is_refused() {
    let path = temp_path("hugectx.gguf");
    let extra = [("context_length", MetaValue::U32(1_000_000_000))];
    std::fs::write(&path, tiny_llama_with("llama", &extra, 0.01)).unwrap();
    let p = path.to_str().unwrap();
    let o = edgelm(&["run", "-m", p, "-p", "a", "--ctx", "1000000000"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("--ctx"), "{}", o.stderr);
    std::fs::remove_file(&path).ok();
}

/// Hyper-parameters and weights that would make every logit NaN are refused at load,
/// naming the key or tensor.
#[test]
fn non_finite_hyper_parameters_and_weights_are_refused() {
    for (extra, weight, what) in [
        (
            vec![("rope.freq_base", MetaValue::F32(f32::NAN))],
            0.01,
            "rope.freq_base",
        ),
        (
            vec![("rope.freq_base", MetaValue::F32(-1.0))],
            0.01,
            "rope.freq_base",
        ),
        (
            vec![(
                "attention.layer_norm_rms_epsilon",
                MetaValue::F32(f32::INFINITY),
            )],
            0.01,
            "layer_norm_rms_epsilon",
        ),
        (
            vec![("block_count", MetaValue::U32(100_000_000))],
            0.01,
            "block_count",
        ),
        (vec![], f32::NAN, "non-finite"),
    ] {
        let path = temp_path("nonfinite.gguf");
        std::fs::write(&path, tiny_llama_with("llama", &extra, weight)).unwrap();
        let p = path.to_str().unwrap();
        assert_clean_failure(&["run", "-m", p, "-p", "a"], &path, what);
        let o = edgelm(&["run", "-m", p, "-p", "a"]);
        assert!(o.stderr.contains(what), "{what}: {}", o.stderr);
        std::fs::remove_file(&path).ok();
    }
}

/// A FIFO (or any non-regular file) as a model or prompt file is refused, not opened
/// and waited on.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_not_waited_on() {
    let fifo = temp_path("model.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: mkfifo is not available");
        return;
    }
    let f = fifo.to_str().unwrap();
    assert_clean_failure(&["run", "-m", f, "-p", "a"], &fifo, "fifo model");
    let model = temp_path("fifo-ok.gguf");
    std::fs::write(&model, tiny_llama("llama")).unwrap();
    let m = model.to_str().unwrap();
    assert_clean_failure(&["run", "-m", m, "-f", f], &fifo, "fifo prompt");
    std::fs::remove_file(&fifo).ok();
    std::fs::remove_file(&model).ok();
}
