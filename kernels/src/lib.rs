//! Pure compute for edgelm: ggml block formats (`quant`) and the CPU kernels that
//! multiply them (`cpu`). No I/O and no model knowledge live here.

pub mod cpu;
pub mod quant;
