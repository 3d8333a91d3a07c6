//! The kernels' CUDA C, compiled by NVRTC once per process for the device's compute
//! capability, with the PTX cached on disk (keyed by a hash of the source and the
//! architecture) so later runs skip the compiler.

use std::path::PathBuf;

use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use super::error::CudaError;

/// Every kernel family, in the order they are concatenated into one program.
const SOURCES: [&str; 5] = [
    include_str!("source/common.cu"),
    include_str!("source/dequant.cu"),
    include_str!("source/matmul.cu"),
    include_str!("source/elementwise.cu"),
    include_str!("source/attention.cu"),
];

/// The whole CUDA C program.
pub fn source() -> String {
    SOURCES.join("\n")
}

/// 64-bit FNV-1a: a stable hash for cache file names (std's hasher may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("edgelm"))
}

/// Compiles the program to PTX for `compute_{major}{minor}` (needs libnvrtc, which
/// the caller has checked is present).
pub fn compile(major: i32, minor: i32) -> Result<String, CudaError> {
    let arch = format!("compute_{major}{minor}");
    let opts = CompileOptions {
        options: vec![format!("--gpu-architecture={arch}")],
        ..Default::default()
    };
    match cudarc::nvrtc::compile_ptx_with_opts(source(), opts) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(e) => Err(CudaError::Compile {
            arch,
            log: match e {
                CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
                other => format!("{other:?}"),
            },
        }),
    }
}

/// PTX for the device, from the disk cache or freshly compiled (and then cached;
/// a cache that cannot be written only costs the next run a compile).
pub fn ptx_for(major: i32, minor: i32) -> Result<Ptx, CudaError> {
    let src = source();
    let key = fnv1a(src.as_bytes());
    let path = cache_dir().map(|d| d.join(format!("kernels-{key:016x}-sm{major}{minor}.ptx")));
    if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        return Ok(Ptx::from_src(text));
    }
    let text = compile(major, minor)?;
    if let Some(p) = &path {
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        let written = p
            .parent()
            .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
            && std::fs::write(&tmp, &text).is_ok()
            && std::fs::rename(&tmp, p).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(Ptx::from_src(text))
}

/// Whether libnvrtc can be loaded (so [`compile`] will not panic).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names; no symbol of it
    // is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}
