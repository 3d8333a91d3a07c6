//! CPU kernels: matrix products over ggml block formats and the element-wise ops.
//!
//! `matmul` is the entry point (`matmul_in` / `matmul_batch` on a persistent
//! [`ThreadPool`]); `attention` attends over a KV cache. The per-row dot kernels are
//! picked once at run time (`dispatch`); `scalar/` holds the portable definitions
//! every SIMD version is tested against.

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
mod aarch64;
pub mod attention;
#[cfg(test)]
mod attention_quant_tests;
mod dispatch;
mod interleave;
mod matmul;
pub mod ops;
mod pool;
mod prefetch;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_endian = "little")
))]
mod prepared;
mod scalar;
#[cfg(test)]
mod test_data;
#[cfg(test)]
mod tile_tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::quant::GgmlType;

pub use interleave::interleave;
pub use matmul::{matmul, matmul_batch, matmul_in};
pub use pool::ThreadPool;

/// A row-major weight matrix in one of the ggml formats, borrowed (e.g. from a
/// memory-mapped GGUF file). With [`WeightLayout::Rows`], row `r` is
/// `data[r * row_bytes..(r + 1) * row_bytes]` with `row_bytes = ty.row_bytes(cols)`.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
    pub layout: WeightLayout,
}

impl<'a> Weights<'a> {
    /// `rows` rows of `cols` elements of `ty`, in ggml's layout, back to back.
    pub fn rows(ty: GgmlType, rows: usize, cols: usize, data: &'a [u8]) -> Weights<'a> {
        Weights {
            ty,
            rows,
            cols,
            data,
            layout: WeightLayout::Rows,
        }
    }
}

/// How a [`Weights`]' bytes are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// ggml's rows, as in a GGUF file.
    Rows,
    /// Groups of 4 rows interleaved by [`interleave`] (same byte count).
    Interleaved,
}

/// How `matmul` treats the activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// As ggml: quantize activations to [`vec_dot_type`] of the weights, then
    /// integer block dot products.
    Fast,
    /// Dequantize weights to f32 and dot them with the f32 activations.
    Precise,
}

/// The format ggml quantizes activations to before a dot product with weights of
/// type `ty`.
pub fn vec_dot_type(ty: GgmlType) -> GgmlType {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => GgmlType::Q8_0,
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q8_1 => GgmlType::Q8_1,
        GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::Q8_K => GgmlType::Q8_K,
        GgmlType::F16 => GgmlType::F16,
        GgmlType::BF16 => GgmlType::BF16,
        GgmlType::F32 => GgmlType::F32,
    }
}

/// Whether [`Precision::Fast`] has a block dot kernel for weights of type `ty` on
/// this CPU. Without one, `Fast` falls back to the `Precise` computation.
pub fn has_vec_dot(ty: GgmlType) -> bool {
    dispatch::kernels().vec_dot(ty).is_some()
}

/// Name of the kernel set chosen for this CPU (e.g. `"scalar"`), for reports.
pub fn kernel_set() -> &'static str {
    dispatch::kernels().name
}

/// Why the `EDGELM_CPU` setting (an instruction set to pin: `scalar`, `avx2`,
/// `avx512` on x86_64; `scalar`, `neon`, `dotprod` on aarch64) cannot be honoured,
/// or `None` when it is unset or valid. Binaries refuse to run on an error, rather
/// than silently measuring another instruction set.
pub fn cpu_pin_error() -> Option<String> {
    dispatch::cpu_pin_error()
}
