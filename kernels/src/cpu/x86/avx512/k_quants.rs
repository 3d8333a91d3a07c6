//! Q4_K and Q6_K x Q8_K, 64 values a step: `maddubs` into 16-bit pair sums, then
//! `vpdpwssd` multiplies them by the group scales and accumulates in one instruction.

use std::arch::x86_64::*;

use super::{join, load16, load32, load64, read_f16};
use crate::cpu::x86::layout::{q8k_d, scales_mins};
use crate::quant::{q4_k, q6_k, q8_k};

/// `v` repeated in the four 16-bit lanes of an i64.
const fn words(v: i64) -> i64 {
    v * 0x0001_0001_0001_0001
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm512_set1_epi8(0x0f);
    // The high 256 bits take the high nibbles.
    let shifts = _mm512_set_epi64(words(4), words(4), words(4), words(4), 0, 0, 0, 0);
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let sm = scales_mins(&bw[q4_k::SCALES..q4_k::SCALES + 12]);
        let v = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
        let scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(v));
        let mins = _mm_cvtepu8_epi16(_mm_srli_si128::<8>(v));
        let bsums = load32(&bx[q8_k::BSUMS..]);
        let pair_sums = _mm_hadd_epi16(
            _mm256_castsi256_si128(bsums),
            _mm256_extracti128_si256::<1>(bsums),
        );
        let summ = _mm_madd_epi16(mins, pair_sums);

        let qs = &bw[q4_k::QS..];
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = _mm512_setzero_si512();
        for c in 0..4 {
            // Elements 64c..64c+64: low then high nibbles of the same 32 bytes.
            let packed = _mm512_broadcast_i64x4(load32(&qs[32 * c..]));
            let q = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts), m4);
            let prod = _mm512_maddubs_epi16(q, load64(&y[64 * c..]));
            let t = 2 * c as i16;
            let pick = join(
                _mm256_set1_epi16(0x0100 + 0x0202 * t),
                _mm256_set1_epi16(0x0100 + 0x0202 * (t + 1)),
            );
            sumi = _mm512_dpwssd_epi32(sumi, prod, _mm512_shuffle_epi8(scales, pick));
        }
        let yd = q8k_d(bx);
        acc = _mm512_fmadd_ps(
            _mm512_set1_ps(read_f16(bw, 0) * yd),
            _mm512_cvtepi32_ps(sumi),
            acc,
        );
        acc = _mm512_fnmadd_ps(
            _mm512_set1_ps(read_f16(bw, 2) * yd),
            _mm512_cvtepi32_ps(_mm512_zextsi128_si512(summ)),
            acc,
        );
    }
    _mm512_reduce_add_ps(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm512_set1_epi8(0x0f);
    let m30 = _mm512_set1_epi8(0x30);
    // Per 256-bit half: chunk 4h (low) and 4h+1 (high) move qh bits 0-1 / 2-3 up to
    // 4-5; chunks 4h+2 and 4h+3 move bits 4-5 / 6-7 there.
    let up = _mm512_set_epi64(
        words(2),
        words(2),
        words(2),
        words(2),
        words(4),
        words(4),
        words(4),
        words(4),
    );
    let down = _mm512_set_epi64(words(2), words(2), words(2), words(2), 0, 0, 0, 0);
    // Register j holds groups 4j..4j+4, one per 128-bit unit.
    let pick = |j: i64| {
        _mm512_set_epi64(
            words(4 * j + 3),
            words(4 * j + 3),
            words(4 * j + 2),
            words(4 * j + 2),
            words(4 * j + 1),
            words(4 * j + 1),
            words(4 * j),
            words(4 * j),
        )
    };
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q6_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let sc8 = load16(&bw[q6_k::SCALES..]);
        let sc16 = _mm256_cvtepi8_epi16(sc8);
        let scales = _mm512_castsi256_si512(sc16);
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = _mm512_setzero_si512();
        for h in 0..2 {
            let ql = load64(&bw[q6_k::QL + 64 * h..]);
            let qh = _mm512_broadcast_i64x4(load32(&bw[q6_k::QH + 32 * h..]));
            // Quant + 32 = low nibble | (two high bits << 4).
            let a = _mm512_or_si512(
                _mm512_and_si512(ql, m4),
                _mm512_and_si512(_mm512_sllv_epi16(qh, up), m30),
            );
            let b = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4),
                _mm512_and_si512(_mm512_srlv_epi16(qh, down), m30),
            );
            for (j, q) in [(2 * h, a), (2 * h + 1, b)] {
                let prod = _mm512_maddubs_epi16(q, load64(&y[64 * j..]));
                // Only the low 16 lanes of `scales` are read: indices are below 16.
                let sc = _mm512_permutexvar_epi16(pick(j as i64), scales);
                sumi = _mm512_dpwssd_epi32(sumi, prod, sc);
            }
        }
        // The +32 offset: Σ_g scale_g * 32 * bsum_g.
        let offset = _mm256_madd_epi16(sc16, load32(&bx[q8_k::BSUMS..]));
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32::<5>(offset)));
        let d = _mm512_set1_ps(read_f16(bw, q6_k::D) * q8k_d(bx));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc);
    }
    _mm512_reduce_add_ps(acc)
}
