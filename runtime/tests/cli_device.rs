//! `--device cuda` on a machine (or build) without CUDA: exit 1 with one clear
//! message, never a panic; `--device auto` falls back to the CPU (and stays there
//! while the CUDA backend is unverified).

use std::path::PathBuf;
use std::process::Command;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny/llama.gguf")
}

fn run(device: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgelm"))
        .args(["run", "-m"])
        .arg(tiny())
        .args(["-p", "hi", "-n", "2", "--temp", "0", "--device", device])
        .output()
        .expect("start edgelm");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cuda_device_without_cuda_exits_1_with_a_clear_message() {
    let (code, err) = run("cuda");
    if code == Some(0) {
        // This machine has a usable GPU (and the build has the feature).
        let built_with_cuda = cfg!(feature = "cuda");
        assert!(
            built_with_cuda,
            "--device cuda succeeded in a build without CUDA"
        );
        eprintln!("skipped: a GPU is present, so --device cuda succeeded");
        return;
    }
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    let expected = if cfg!(feature = "cuda") {
        // Whichever piece is missing here is named.
        [
            "CUDA driver (libcuda.so) not found",
            "NVRTC",
            "no CUDA GPU",
            "GPU memory",
        ]
        .iter()
        .any(|m| err.contains(m))
    } else {
        err.contains("this edgelm was built without CUDA support (rebuild with --features cuda)")
    };
    assert!(expected, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one message, got: {err}");
}

#[test]
fn auto_device_falls_back_to_the_cpu() {
    let (code, err) = run("auto");
    assert_eq!(code, Some(0), "stderr: {err}");
    if cfg!(feature = "cuda") && !edgelm_runtime::device::CUDA_VERIFIED {
        // Not verified on a GPU yet: `auto` stays on the CPU and says why.
        assert!(err.contains("has not been verified"), "stderr: {err}");
    }
    let (code, err) = run("cpu");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(!err.contains("CUDA"), "stderr: {err}");
}
