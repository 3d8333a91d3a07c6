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

/// A super-block's weight side, unpacked once (the tiles dot it with several
/// tokens): the 256 quants as 8 chunks of 32, each chunk's group scale in i16 lanes,
/// the 8 mins, `d` and `dmin`.
pub(super) struct K32Block {
    q: [__m256i; 8],
    scales: [__m256i; 8],
    mins: __m128i,
    d: f32,
    dmin: f32,
}

impl K32Block {
    /// `quants(c)` gives the 64 quants of elements `64c..64c+64` as (first 32, last
    /// 32).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn new(bw: &[u8], mut quants: impl FnMut(usize) -> (__m256i, __m256i)) -> Self {
        let sm = scales_mins(&bw[q4_k::SCALES..q4_k::SCALES + 12]);
        let v = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
        let scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
        let mut q = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            (q[2 * c], q[2 * c + 1]) = quants(c);
        }
        K32Block {
            q,
            scales: std::array::from_fn(|t| lane16(scales, t as i16)),
            mins: _mm_cvtepu8_epi16(_mm_srli_si128::<8>(v)),
            d: read_f16(bw, 0),
            dmin: read_f16(bw, 2),
        }
    }

    /// `acc` plus the block's dot with the Q8_K block `bx`, in 8 lanes:
    /// `d*yd*Σ_g sc_g*dot_g - dmin*yd*Σ_g m_g*(bsum_2g + bsum_2g+1)`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot(&self, bx: &[u8], acc: __m256) -> __m256 {
        let bsums = load32(&bx[q8_k::BSUMS..]);
        let pair_sums = _mm_hadd_epi16(
            _mm256_castsi256_si128(bsums),
            _mm256_extracti128_si256::<1>(bsums),
        );
        let summ = _mm_madd_epi16(self.mins, pair_sums);
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = _mm256_setzero_si256();
        for (t, (&q, &scale)) in self.q.iter().zip(&self.scales).enumerate() {
            let p = _mm256_maddubs_epi16(q, load32(&y[32 * t..]));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
        }
        let yd = q8k_d(bx);
        let acc = _mm256_fmadd_ps(_mm256_set1_ps(self.d * yd), _mm256_cvtepi32_ps(sumi), acc);
        // The four min lanes go into the low half; the high half adds zeros.
        _mm256_fnmadd_ps(
            _mm256_set1_ps(self.dmin * yd),
            _mm256_cvtepi32_ps(_mm256_castsi128_si256(summ)),
            acc,
        )
    }
}

/// Q4_K's quants of elements `64c..64c+64`: low and high nibbles of 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_k_block(bw: &[u8]) -> K32Block {
    let m4 = _mm256_set1_epi8(0x0f);
    let qs = &bw[q4_k::QS..];
    K32Block::new(bw, |c| {
        let v = load32(&qs[32 * c..]);
        (
            _mm256_and_si256(v, m4),
            _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4),
        )
    })
}

/// Q5_K's quants: Q4_K's plus the fifth bits of `qh`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_k_block(bw: &[u8]) -> K32Block {
    let m4 = _mm256_set1_epi8(0x0f);
    let (one, two) = (_mm256_set1_epi8(1), _mm256_set1_epi8(2));
    let qs = &bw[q5_k::QS..];
    // Bits 2c and 2c+1 of each qh byte are the fifth bits of chunk c; shifting by
    // two per chunk brings them to bits 0 and 1 (bits crossing from the
    // neighbouring byte land above and are masked off).
    let mut qh = load32(&bw[q5_k::QH..]);
    K32Block::new(bw, |c| {
        let v = load32(&qs[32 * c..]);
        let h_lo = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, one));
        let h_hi = _mm256_slli_epi16::<3>(_mm256_and_si256(qh, two));
        qh = _mm256_srli_epi16::<2>(qh);
        (
            _mm256_or_si256(_mm256_and_si256(v, m4), h_lo),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(v), m4), h_hi),
        )
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        acc = q4_k_block(bw).dot(bx, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q5_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        acc = q5_k_block(bw).dot(bx, acc);
    }
    hsum(acc)
}
