//! The CUDA C compiles with NVRTC. Needs libnvrtc but no GPU, so it also runs on
//! build machines that have only the NVRTC library (e.g. the pip wheel
//! nvidia-cuda-nvrtc-cu12 on LD_LIBRARY_PATH). Without it the test says it skipped.
#![cfg(feature = "cuda")]

use edgelm_kernels::cuda::module;

#[test]
fn kernels_compile_with_nvrtc() {
    if !module::nvrtc_present() {
        let msg =
            "skipped: libnvrtc.so not found (put the CUDA 12 NVRTC library on LD_LIBRARY_PATH)";
        // CI installs NVRTC and sets EDGELM_REQUIRE_NVRTC; the GPU check sets
        // EDGELM_REQUIRE_GPU.
        for var in ["EDGELM_REQUIRE_NVRTC", "EDGELM_REQUIRE_GPU"] {
            assert!(std::env::var(var).as_deref() != Ok("1"), "{msg}");
        }
        eprintln!("{msg}");
        return;
    }
    // Ampere (A100), Ada (L4) and Hopper (H100/H200).
    for (major, minor) in [(8, 0), (8, 9), (9, 0)] {
        let ptx = module::compile(major, minor).unwrap_or_else(|e| panic!("{e}"));
        for name in [
            "matmul_q4_k",
            "matmul_q5_0",
            "embed_q6_k",
            "rms_norm",
            "rope",
            "kv_store",
            "attention",
        ] {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "sm{major}{minor}: no kernel {name} in the PTX"
            );
        }
    }
}
