//! What `edgelm-compress` says on success (issue 18): the report's size line says
//! "larger" when the output grew, sizes are in MiB everywhere, fallbacks to another type
//! are counted, `--dry-run` needs no `-o`, and `general.name` is the model's name, not
//! its folder's dtype suffix.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edgelm_runtime::gguf::GgufFile;

/// A fresh folder holding the tiny Llama checkpoint of the LoRA fixtures as `dir_name`.
struct Case(PathBuf);

impl Case {
    fn new(tag: &str, dir_name: &str) -> Case {
        let root =
            std::env::temp_dir().join(format!("edgelm-compress-msg-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join(dir_name)).unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lora/base");
        for e in fs::read_dir(base).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), root.join(dir_name).join(e.file_name())).unwrap();
        }
        Case(root)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn compress(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_edgelm-compress"))
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

fn line<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no '{key}' line in:\n{report}"))
}

/// Sizes are MiB, never MB; "smaller" or "larger" as the tensors went.
fn assert_mib_only(report: &str) {
    assert!(report.contains(" MiB"), "{report}");
    assert!(!report.contains(" MB"), "{report}");
}

#[test]
fn requantizing_up_says_larger() {
    let c = Case::new("larger", "tiny-llama");
    let (q4, q8) = (c.path("q4.gguf"), c.path("q8.gguf"));
    let (report, _) = compress(&[&"-i", &c.path("tiny-llama"), &"-q", &"Q4_0", &"-o", &q4]);
    assert!(line(&report, "size").contains("x smaller"), "{report}");
    assert_mib_only(&report);
    // Q4_0 -> Q8_0: the file grows, and the report says so.
    let (report, stderr) = compress(&[&"-i", &q4, &"-q", &"Q8_0", &"-o", &q8]);
    let size = line(&report, "size");
    assert!(
        size.contains("x larger") && !size.contains("smaller"),
        "{size}"
    );
    let grew = fs::metadata(&q8).unwrap().len() > fs::metadata(&q4).unwrap().len();
    assert!(grew, "the Q8_0 file is the larger");
    assert!(line(&report, "time").contains("MiB/s"), "{report}");
    assert_mib_only(&report);
    assert!(stderr.contains("already quantized"), "{stderr}");
}

#[test]
fn dry_run_needs_no_output_and_counts_fallbacks() {
    let c = Case::new("dry", "tiny-llama");
    // The tiny model's rows (64 wide) fit no 256-block: Q6_K falls back to Q8_0.
    let (out, _) = compress(&[&"-i", &c.path("tiny-llama"), &"-q", &"Q6_K", &"--dry-run"]);
    assert!(out.contains("-> Q8_0 (wanted Q6_K"), "{out}");
    let fallback = line(&out, "fallback");
    assert!(fallback.contains("tensors Q6_K -> Q8_0"), "{fallback}");
    assert!(line(&out, "size").contains("nothing written"), "{out}");
    assert_mib_only(&out);
    let left: Vec<_> = fs::read_dir(&c.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["tiny-llama"], "--dry-run wrote something");
    // The real run reports the same fallbacks.
    let out_file = c.path("q6.gguf");
    let (report, _) = compress(&[
        &"-i",
        &c.path("tiny-llama"),
        &"-q",
        &"Q6_K",
        &"-o",
        &out_file,
    ]);
    assert_eq!(line(&report, "fallback"), fallback);
    // Without --dry-run, -o is still required.
    let out = Command::new(env!("CARGO_BIN_EXE_edgelm-compress"))
        .args(["-q", "Q8_0", "-i"])
        .arg(c.path("tiny-llama"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));
}

#[test]
fn pure_is_one_type_and_the_mix_is_not() {
    let c = Case::new("pure", "tiny-llama");
    let input = c.path("tiny-llama");
    let (mix, _) = compress(&[&"-i", &input, &"-q", &"Q4_0", &"--dry-run"]);
    let (pure, _) = compress(&[&"-i", &input, &"-q", &"Q4_0", &"--pure", &"--dry-run"]);
    // The tiny Llama's embedding doubles as its output matrix: llama-quantize's Q4_0
    // gives it Q6_K (64-wide rows fit no 256-block: Q8_0), --pure gives it Q4_0.
    let output_type = |s: &str| {
        line(s, "token_embd.weight")
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string()
    };
    assert_eq!(output_type(&mix), "Q8_0", "{mix}");
    assert_eq!(output_type(&pure), "Q4_0", "{pure}");
    assert_eq!(line(&pure, "quant"), "quant      Q4_0 --pure");
}

#[test]
fn general_name_is_the_models_not_the_folders_dtype() {
    let c = Case::new("name", "Tiny-Llama-f32");
    let out = c.path("q4_k_m.gguf");
    compress(&[
        &"-i",
        &c.path("Tiny-Llama-f32"),
        &"-q",
        &"Q4_K_M",
        &"-o",
        &out,
    ]);
    let f = GgufFile::open(&out).unwrap();
    assert_eq!(f.get_str("general.name").unwrap(), Some("Tiny Llama"));
    drop(f);
    // config.json's `_name_or_path`, when it is a Hugging Face id, wins.
    let dir = c.path("Tiny-Llama-f32");
    let cfg = fs::read_to_string(dir.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["_name_or_path"] = "some-org/Tiny-Llama-42M-Instruct".into();
    fs::write(dir.join("config.json"), v.to_string()).unwrap();
    let out = c.path("named.gguf");
    compress(&[&"-i", &dir, &"-q", &"Q4_K_M", &"-o", &out]);
    let f = GgufFile::open(&out).unwrap();
    assert_eq!(
        f.get_str("general.name").unwrap(),
        Some("Tiny Llama 42M Instruct")
    );
}
