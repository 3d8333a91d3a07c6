//! Bad input to `edgelm-compress`: exit code 1 with a message naming the file and the
//! problem, never a panic, and nothing left behind in the output folder.
//!
//! The mutation harness (`tests/tests/bad_inputs/compress_*.rs`) runs hundreds of such
//! inputs under a memory cap; what stays here checks message details it does not (the
//! supported list, the word "truncated", the adapter's tensor), a successful control run,
//! and the signals, which need a checkpoint big enough to interrupt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tiny Llama checkpoint of the LoRA fixtures: an ordinary HF directory.
fn base_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lora/base")
}

fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lora/adapters")
}

/// A fresh folder with a copy of the base checkpoint in `in/` and an empty `out/`.
struct Case(PathBuf);

impl Case {
    fn new(tag: &str) -> Case {
        let root =
            std::env::temp_dir().join(format!("edgelm-compress-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("in")).unwrap();
        fs::create_dir_all(root.join("out")).unwrap();
        for e in fs::read_dir(base_dir()).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), root.join("in").join(e.file_name())).unwrap();
        }
        Case(root)
    }
    fn input(&self) -> PathBuf {
        self.0.join("in")
    }
    fn out(&self) -> PathBuf {
        self.0.join("out/model.gguf")
    }
    /// Runs the compressor, expects exit 1 and an empty output folder; returns stderr.
    fn fails(&self, extra: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_edgelm-compress"))
            .arg("-i")
            .arg(self.input())
            .arg("-o")
            .arg(self.out())
            .args(["-q", "Q8_0"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let left: Vec<_> = fs::read_dir(self.0.join("out")).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        stderr
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_unmodified_case_succeeds() {
    let c = Case::new("ok");
    let out = Command::new(env!("CARGO_BIN_EXE_edgelm-compress"))
        .arg("-i")
        .arg(c.input())
        .arg("-o")
        .arg(c.out())
        .args(["-q", "Q8_0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.out().exists());
}

#[test]
fn unknown_architecture() {
    let c = Case::new("arch");
    let p = c.input().join("config.json");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("LlamaForCausalLM", "GPTNeoXForCausalLM");
    fs::write(&p, text).unwrap();
    let e = c.fails(&[]);
    assert!(
        e.contains("config.json") && e.contains("GPTNeoXForCausalLM"),
        "{e}"
    );
    assert!(
        e.contains("LlamaForCausalLM"),
        "lists what is supported: {e}"
    );
}

#[test]
fn truncated_safetensors() {
    let c = Case::new("trunc");
    let p = c.input().join("model.safetensors");
    let bytes = fs::read(&p).unwrap();
    fs::write(&p, &bytes[..bytes.len() - 1000]).unwrap();
    let e = c.fails(&[]);
    assert!(
        e.contains("model.safetensors") && e.contains("truncated"),
        "{e}"
    );
    fs::write(&p, &bytes[..20]).unwrap();
    let e = c.fails(&[]);
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn adapter_for_other_shapes() {
    let c = Case::new("lora-shape");
    let adapter = adapters_dir().join("wrong_shape");
    let e = c.fails(&["--lora", adapter.to_str().unwrap()]);
    assert!(e.contains("wrong_shape"), "names the adapter: {e}");
    assert!(e.contains("model.layers."), "names the tensor: {e}");
}

/// SIGINT or SIGTERM while the output is being written: the process ends by that
/// signal and leaves no temporary file. Needs a checkpoint big enough to catch
/// mid-write: SmolLM2 as an HF float32 directory (`tests/scripts/smollm2-hf.sh`).
#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct-f32");
    if !input.join("model.safetensors").exists() {
        let msg = format!(
            "{} is absent (tests/scripts/smollm2-hf.sh makes it)",
            input.display()
        );
        assert!(
            std::env::var("EDGELM_REQUIRE_FIXTURES").as_deref() != Ok("1"),
            "{msg}"
        );
        eprintln!("skipping: {msg}");
        return;
    }
    // The signal numbers are the same on every Unix this builds for.
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM")] {
        let c = Case::new(&format!("signal-{sig}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgelm-compress"))
            .arg("-i")
            .arg(&input)
            .arg("-o")
            .arg(c.out())
            .args(["-q", "Q8_0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the temporary file, then interrupt.
        let out_dir = c.0.join("out");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while fs::read_dir(&out_dir).unwrap().next().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: no temporary file appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let killed = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        // A run that finished first is no test of the handler: it must have been cut.
        assert_eq!(status.signal(), Some(sig), "{name}: {status:?}");
        let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
        assert!(left.is_empty(), "{name} left behind: {left:?}");
    }
}
