//! Q5_0 x Q8_0 and Q5_1 x Q8_1: the Q4 kernels with the fifth bits of `qh` spread to
//! one byte per value.

use std::arch::x86_64::*;

use super::{bit_bytes, dot_i8_i8, dot_u8_i8, hsum, lane1, load32, nibbles, scale_product};
use crate::cpu::x86::layout::read_u32;
use crate::quant::{q5_0, q5_1, q8_0, q8_1};

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let high = _mm256_set1_epi8(0xf0u8 as i8);
    for (bw, bx) in w
        .chunks_exact(q5_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(scale_product(bw, bx));
        // q - 16 as an i8: the nibble itself when the fifth bit is set, otherwise
        // the nibble with the top four bits set (nibble - 16).
        let clear = _mm256_andnot_si256(bit_bytes(read_u32(bw, 2)), high);
        let q = _mm256_or_si256(nibbles(&bw[6..]), clear);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(q, load32(&bx[2..])), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    // Lane 1 sums the m_w * s_x terms (lane 0 collects unused scale products).
    let mut mins = _mm_setzero_ps();
    let fifth = _mm256_set1_epi8(0x10);
    for (bw, bx) in w
        .chunks_exact(q5_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let dm = scale_min_products!(bw, bx);
        mins = _mm_add_ps(mins, dm);
        let d = _mm256_broadcastss_ps(dm);
        let set = _mm256_and_si256(bit_bytes(read_u32(bw, 4)), fifth);
        let q = _mm256_or_si256(nibbles(&bw[8..]), set);
        acc = _mm256_fmadd_ps(d, dot_u8_i8(q, load32(&bx[4..])), acc);
    }
    hsum(acc) + lane1(mins)
}
