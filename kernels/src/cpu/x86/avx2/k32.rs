//! Q4_K x Q8_K and Q5_K x Q8_K: per super-block 8 groups of 32 with six-bit scales and
//! mins; `maddubs` + `madd` by the group's scale, and the mins applied through the
//! activation's group sums.

use std::arch::x86_64::*;

use super::{hsum, load32, read_f16};
use crate::cpu::x86::layout::{q8k_d, scales_mins};
use crate::quant::{q4_k, q5_k, q8_k};

/// The i16 lane `t` of `v` (both halves hold the same 8 lanes) in all 16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lane16(v: __m256i, t: i16) -> __m256i {
    _mm256_shuffle_epi8(v, _mm256_set1_epi16(0x0100 + 0x0202 * t))
}

/// One super-block: `sumf = d*yd*Σ_g sc_g*dot_g - dmin*yd*Σ_g m_g*(bsum_2g + bsum_2g+1)`
/// with `quants(c)` the 64 quants of elements `64c..64c+64` as (first 32, last 32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block(
    bw: &[u8],
    bx: &[u8],
    acc: __m256,
    mut quants: impl FnMut(usize) -> (__m256i, __m256i),
) -> __m256 {
    let sm = scales_mins(&bw[q4_k::SCALES..q4_k::SCALES + 12]);
    let v = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
    let scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
    let mins = _mm_cvtepu8_epi16(_mm_srli_si128::<8>(v));
    let bsums = load32(&bx[q8_k::BSUMS..]);
    let pair_sums = _mm_hadd_epi16(
        _mm256_castsi256_si128(bsums),
        _mm256_extracti128_si256::<1>(bsums),
    );
    let summ = _mm_madd_epi16(mins, pair_sums);

    let y = &bx[q8_k::QS..q8_k::BSUMS];
    let mut sumi = _mm256_setzero_si256();
    for c in 0..4 {
        let (lo, hi) = quants(c);
        let p_lo = _mm256_maddubs_epi16(lo, load32(&y[64 * c..]));
        let p_hi = _mm256_maddubs_epi16(hi, load32(&y[64 * c + 32..]));
        let t = 2 * c as i16;
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, lane16(scales, t)));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, lane16(scales, t + 1)));
    }
    let yd = q8k_d(bx);
    let acc = _mm256_fmadd_ps(
        _mm256_set1_ps(read_f16(bw, 0) * yd),
        _mm256_cvtepi32_ps(sumi),
        acc,
    );
    // The four min lanes go into the low half; the high half adds zeros.
    _mm256_fnmadd_ps(
        _mm256_set1_ps(read_f16(bw, 2) * yd),
        _mm256_cvtepi32_ps(_mm256_castsi128_si256(summ)),
        acc,
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let qs = &bw[q4_k::QS..];
        acc = block(bw, bx, acc, |c| {
            let v = load32(&qs[32 * c..]);
            (
                _mm256_and_si256(v, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4),
            )
        });
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0f);
    let (one, two) = (_mm256_set1_epi8(1), _mm256_set1_epi8(2));
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q5_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let qs = &bw[q5_k::QS..];
        // Bits 2c and 2c+1 of each qh byte are the fifth bits of chunk c; shifting by
        // two per chunk brings them to bits 0 and 1 (bits crossing from the
        // neighbouring byte land above and are masked off).
        let mut qh = load32(&bw[q5_k::QH..]);
        acc = block(bw, bx, acc, |c| {
            let v = load32(&qs[32 * c..]);
            let h_lo = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, one));
            let h_hi = _mm256_slli_epi16::<3>(_mm256_and_si256(qh, two));
            qh = _mm256_srli_epi16::<2>(qh);
            (
                _mm256_or_si256(_mm256_and_si256(v, m4), h_lo),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v), m4), h_hi),
            )
        });
    }
    hsum(acc)
}
