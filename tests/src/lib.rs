//! Shared helpers for the integration tests in `tests/tests/`.

use std::path::PathBuf;

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

/// The real model, fetched by `runtime/scripts/fetch-smollm2.sh`; `None` (with a note on
/// stderr) when it is absent so the rest of the suite still runs offline.
pub fn smollm2_path() -> Option<PathBuf> {
    let p = workspace_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} is absent (bash runtime/scripts/fetch-smollm2.sh fetches it)",
            p.display()
        );
        None
    }
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
