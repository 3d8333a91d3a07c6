//! The 32-value block formats with 256-bit `vpdpbusd` (AVX-512 VL + VNNI): the AVX2
//! kernels with each `maddubs` + `madd` pair fused into one instruction, and without
//! 512-bit registers, whose extra shuffles cost more than they save on these small
//! blocks.

use std::arch::x86_64::*;

use crate::cpu::x86::avx2::{bit_bytes, hsum, lane1, load32, nibbles, scale_product};
use crate::cpu::x86::layout::read_u32;
use crate::quant::{q4_0, q4_1, q5_0, q5_1, q8_0, q8_1};

/// Σ u * s over 32 pairs (u unsigned, s signed bytes) as 8 f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s))
}

/// Σ (u - o) * s over 32 pairs, with `o` broadcast in `offset`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_offset_u8_i8(u: __m256i, offset: __m256i, s: __m256i) -> __m256 {
    let zero = _mm256_setzero_si256();
    _mm256_cvtepi32_ps(_mm256_sub_epi32(
        _mm256_dpbusd_epi32(zero, u, s),
        _mm256_dpbusd_epi32(zero, offset, s),
    ))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q8_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let (qw, qx) = (load32(&bw[2..]), load32(&bx[2..]));
        // |w| * (x with w's sign): vpdpbusd wants its first operand unsigned.
        let p = dot_u8_i8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale_product(bw, bx)), p, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let eight = _mm256_set1_epi8(8);
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let p = dot_offset_u8_i8(nibbles(&bw[2..]), eight, load32(&bx[2..]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale_product(bw, bx)), p, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q5_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let (fifth, sixteen) = (_mm256_set1_epi8(0x10), _mm256_set1_epi8(16));
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q5_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let high = _mm256_and_si256(bit_bytes(read_u32(bw, 2)), fifth);
        let q = _mm256_or_si256(nibbles(&bw[6..]), high);
        let p = dot_offset_u8_i8(q, sixteen, load32(&bx[2..]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale_product(bw, bx)), p, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
        let p = dot_u8_i8(nibbles(&bw[4..]), load32(&bx[4..]));
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), p, acc);
    }
    hsum(acc) + lane1(mins)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q5_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let fifth = _mm256_set1_epi8(0x10);
    let mut acc = _mm256_setzero_ps();
    // Lane 1 sums the m_w * s_x terms (lane 0 collects unused scale products).
    let mut mins = _mm_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q5_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let dm = scale_min_products!(bw, bx);
        mins = _mm_add_ps(mins, dm);
        let high = _mm256_and_si256(bit_bytes(read_u32(bw, 4)), fifth);
        let p = dot_u8_i8(_mm256_or_si256(nibbles(&bw[8..]), high), load32(&bx[4..]));
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), p, acc);
    }
    hsum(acc) + lane1(mins)
}
