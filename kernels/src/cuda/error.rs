//! Why the GPU cannot be used, in words a user can act on.

/// Errors of the CUDA backend.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error(
        "CUDA driver (libcuda.so) not found: install the NVIDIA driver or run with --device cpu"
    )]
    NoDriver,
    #[error("NVRTC (libnvrtc.so) not found: install the CUDA 12 toolkit (or its NVRTC library) and add its lib directory to LD_LIBRARY_PATH, or run with --device cpu")]
    NoNvrtc,
    #[error("no CUDA GPU found: {0}")]
    NoDevice(String),
    #[error("CUDA driver error while {what}: {msg}")]
    Driver { what: &'static str, msg: String },
    #[error("NVRTC could not compile the CUDA kernels for {arch}: {log}")]
    Compile { arch: String, log: String },
    #[error("not enough GPU memory on {gpu}: need {need_mib:.0} MiB, {free_mib:.0} MiB free")]
    OutOfMemory {
        gpu: String,
        need_mib: f64,
        free_mib: f64,
    },
    /// A shape or type the kernels do not handle.
    #[error("{0}")]
    Unsupported(String),
}

/// Maps a cudarc driver error, naming what was being done.
pub(crate) fn drv(what: &'static str) -> impl FnOnce(cudarc::driver::DriverError) -> CudaError {
    move |e| CudaError::Driver {
        what,
        msg: e.to_string(),
    }
}

/// Fails with [`CudaError::Unsupported`] unless `ok`.
pub(crate) fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), CudaError> {
    if ok {
        Ok(())
    } else {
        Err(CudaError::Unsupported(msg()))
    }
}
