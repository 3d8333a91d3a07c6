//! Pure compute for edgelm: ggml block formats (`quant`) and the CPU kernels that
//! multiply them (`cpu`), and with the feature `cuda` the GPU kernels (`cuda`). No I/O
//! and no model knowledge live here.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod quant;
