//! Q4_0 x Q8_0, Q4_1 x Q8_1 and Q8_0 x Q8_0: one 32-value block a step.

use std::arch::x86_64::*;

use super::{dot_i8_i8, dot_u8_i8, hsum, lane1, load32, nibbles, scale_product};
use crate::quant::{q4_0, q4_1, q8_0, q8_1};

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q8_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(scale_product(bw, bx));
        let p = dot_i8_i8(load32(&bw[2..]), load32(&bx[2..]));
        acc = _mm256_fmadd_ps(d, p, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let eight = _mm256_set1_epi8(8);
    for (bw, bx) in w
        .chunks_exact(q4_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(scale_product(bw, bx));
        let q = _mm256_sub_epi8(nibbles(&bw[2..]), eight);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(q, load32(&bx[2..])), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    // Lane 1 sums the m_w * s_x terms (lane 0 collects unused scale products).
    let mut mins = _mm_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let dm = scale_min_products!(bw, bx);
        mins = _mm_add_ps(mins, dm);
        let d = _mm256_broadcastss_ps(dm);
        acc = _mm256_fmadd_ps(d, dot_u8_i8(nibbles(&bw[4..]), load32(&bx[4..])), acc);
    }
    hsum(acc) + lane1(mins)
}
