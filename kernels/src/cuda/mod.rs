//! CUDA kernels (feature `cuda`): the driver and NVRTC are loaded at run time
//! through cudarc, so building needs no CUDA toolkit, and a machine without them
//! gets a [`CudaError`] from [`probe`] / [`Gpu::new`], never a panic.
//!
//! `module` holds the CUDA C (compiled on first use, cached on disk), `weights`
//! uploads ggml blocks as they are (the kernels dequantize on the fly), `ops`
//! launches the kernels. Activations and sums are f32; the KV cache is f16.

mod error;
pub mod module;
mod ops;
mod weights;

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};

pub use cudarc::driver::{CudaSlice, CudaView, CudaViewMut};
pub use error::CudaError;
pub use ops::{AttentionShape, RopeShape};
pub use weights::{gpu_matrix_bytes, GpuMatrix, GPU_TYPES};

use error::drv;

/// Checks, without panicking, that the CUDA driver and NVRTC libraries load and
/// that there is at least one GPU.
pub fn probe() -> Result<(), CudaError> {
    // SAFETY: only tries to dlopen libcuda by its usual names; calls nothing in it.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(CudaError::NoDriver);
    }
    if !module::nvrtc_present() {
        return Err(CudaError::NoNvrtc);
    }
    match CudaContext::device_count() {
        Ok(0) => Err(CudaError::NoDevice("the driver reports 0 devices".into())),
        Ok(_) => Ok(()),
        Err(e) => Err(CudaError::NoDevice(e.to_string())),
    }
}

/// Per-type matrix product and embedding kernels, indexed like [`GPU_TYPES`].
struct TypedKernels {
    matmul: Vec<CudaFunction>,
    embed: Vec<CudaFunction>,
}

struct Kernels {
    typed: TypedKernels,
    rms_norm: CudaFunction,
    add_rows: CudaFunction,
    swiglu: CudaFunction,
    rope: CudaFunction,
    kv_store: CudaFunction,
    attention: CudaFunction,
}

impl Kernels {
    fn load(m: &Arc<CudaModule>) -> Result<Kernels, CudaError> {
        let f = |name: &str| m.load_function(name).map_err(drv("loading a kernel"));
        let typed = |prefix: &str| -> Result<Vec<CudaFunction>, CudaError> {
            GPU_TYPES
                .iter()
                .map(|t| f(&format!("{prefix}_{}", t.name().to_ascii_lowercase())))
                .collect()
        };
        Ok(Kernels {
            typed: TypedKernels {
                matmul: typed("matmul")?,
                embed: typed("embed")?,
            },
            rms_norm: f("rms_norm")?,
            add_rows: f("add_rows")?,
            swiglu: f("swiglu")?,
            rope: f("rope")?,
            kv_store: f("kv_store")?,
            attention: f("attention")?,
        })
    }
}

/// One GPU with the kernels loaded, and the stream everything runs on in order.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    k: Kernels,
    name: String,
    capability: (i32, i32),
}

impl Gpu {
    /// Opens GPU `ordinal` and loads the kernels (compiling them on first use).
    pub fn new(ordinal: usize) -> Result<Gpu, CudaError> {
        probe()?;
        let ctx = CudaContext::new(ordinal).map_err(drv("opening the GPU"))?;
        let name = ctx.name().map_err(drv("reading the GPU name"))?;
        let capability = ctx
            .compute_capability()
            .map_err(drv("reading the compute capability"))?;
        let ptx = module::ptx_for(capability.0, capability.1)?;
        let m = ctx
            .load_module(ptx)
            .map_err(drv("loading the kernels' PTX"))?;
        let k = Kernels::load(&m)?;
        let stream = ctx.default_stream();
        Ok(Gpu {
            ctx,
            stream,
            k,
            name,
            capability,
        })
    }

    /// The device's name, e.g. "NVIDIA H200".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Compute capability (major, minor).
    pub fn capability(&self) -> (i32, i32) {
        self.capability
    }

    /// (free, total) bytes of device memory.
    pub fn mem_info(&self) -> Result<(usize, usize), CudaError> {
        self.ctx.mem_get_info().map_err(drv("querying GPU memory"))
    }

    /// Fails with [`CudaError::OutOfMemory`] unless `bytes` more fit (with 5% and
    /// 64 MiB to spare for the driver's own allocations).
    pub fn check_fits(&self, bytes: usize) -> Result<(), CudaError> {
        let (free, _) = self.mem_info()?;
        let need = bytes as f64 * 1.05 + 64.0 * 1048576.0;
        if need > free as f64 {
            return Err(CudaError::OutOfMemory {
                gpu: self.name.clone(),
                need_mib: need / 1048576.0,
                free_mib: free as f64 / 1048576.0,
            });
        }
        Ok(())
    }

    /// A zeroed device buffer of `len` elements.
    pub fn zeros<T>(&self, len: usize) -> Result<CudaSlice<T>, CudaError>
    where
        T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits,
    {
        self.stream
            .alloc_zeros(len.max(1))
            .map_err(drv("allocating GPU memory"))
    }

    /// Copies `data` to a new device buffer.
    pub fn upload<T: cudarc::driver::DeviceRepr>(
        &self,
        data: &[T],
    ) -> Result<CudaSlice<T>, CudaError> {
        self.stream
            .clone_htod(data)
            .map_err(drv("copying to the GPU"))
    }

    /// Copies `src` into `dst` (at least as long) on the device.
    pub fn write<T: cudarc::driver::DeviceRepr>(
        &self,
        src: &[T],
        dst: &mut CudaSlice<T>,
    ) -> Result<(), CudaError> {
        error::ensure(dst.len() >= src.len(), || {
            format!("write of {} elements into {}", src.len(), dst.len())
        })?;
        self.stream
            .memcpy_htod(src, dst)
            .map_err(drv("copying to the GPU"))
    }

    /// Copies a device buffer back (waiting for the work queued before it).
    pub fn download<T: cudarc::driver::DeviceRepr + Default + Clone>(
        &self,
        src: &CudaView<'_, T>,
    ) -> Result<Vec<T>, CudaError> {
        self.stream
            .clone_dtoh(src)
            .map_err(drv("copying from the GPU"))
    }

    /// Waits for everything queued.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream
            .synchronize()
            .map_err(drv("running the kernels"))
    }
}
