//! CPU kernels: matrix products over ggml block formats and the element-wise ops.

pub mod ops;
