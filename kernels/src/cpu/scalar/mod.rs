//! Portable dot kernels: the definition each SIMD path is tested against. One file
//! per weight family; each computes ggml's per-block formula for its pair of
//! weight and activation formats.

mod float;
mod q2_k;
mod q3_k;
mod q4;
mod q4_k;
mod q5;
mod q5_k;
mod q6_k;
mod q8;

use super::dispatch::{type_index, Kernels, VecDotFn};
use crate::quant::GgmlType;

pub(crate) use float::dot_f32;
#[cfg(target_arch = "x86_64")]
pub(crate) use q4::vec_dot_q4_0_q8_0_fused;

pub(crate) fn kernels() -> Kernels {
    let mut vec_dot: [Option<VecDotFn>; GgmlType::ALL.len()] = [None; GgmlType::ALL.len()];
    let table: [(GgmlType, VecDotFn); 13] = [
        (GgmlType::F32, float::vec_dot_f32),
        (GgmlType::F16, float::vec_dot_f16),
        (GgmlType::BF16, float::vec_dot_bf16),
        (GgmlType::Q4_0, q4::vec_dot_q4_0_q8_0),
        (GgmlType::Q4_1, q4::vec_dot_q4_1_q8_1),
        (GgmlType::Q5_0, q5::vec_dot_q5_0_q8_0),
        (GgmlType::Q5_1, q5::vec_dot_q5_1_q8_1),
        (GgmlType::Q8_0, q8::vec_dot_q8_0_q8_0),
        (GgmlType::Q2_K, q2_k::vec_dot_q2_k_q8_k),
        (GgmlType::Q3_K, q3_k::vec_dot_q3_k_q8_k),
        (GgmlType::Q4_K, q4_k::vec_dot_q4_k_q8_k),
        (GgmlType::Q5_K, q5_k::vec_dot_q5_k_q8_k),
        (GgmlType::Q6_K, q6_k::vec_dot_q6_k_q8_k),
    ];
    for (ty, f) in table {
        vec_dot[type_index(ty)] = Some(f);
    }
    Kernels {
        name: "scalar",
        ops: crate::cpu::ops::scalar::ops(),
        dot_f32,
        vec_dot,
        tile: [None; GgmlType::ALL.len()],
        interleaved: [None; GgmlType::ALL.len()],
        quantize: [None; GgmlType::ALL.len()],
    }
}

/// Integer dot of quants with `i8` activation bytes; written so LLVM vectorizes it.
#[inline(always)]
pub(crate) fn dot_i8(q: &[i8], y: &[u8]) -> i32 {
    q.iter()
        .zip(y)
        .map(|(&a, &b)| a as i32 * (b as i8) as i32)
        .sum()
}

/// The `i16` group sum `g` of a Q8_K block.
#[inline(always)]
pub(crate) fn q8k_bsum(b: &[u8], g: usize) -> i32 {
    let off = crate::quant::q8_k::BSUMS + 2 * g;
    i16::from_le_bytes([b[off], b[off + 1]]) as i32
}

/// The f32 scale of a Q8_K block.
#[inline(always)]
pub(crate) fn q8k_d(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}
