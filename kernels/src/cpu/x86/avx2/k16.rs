//! Q2_K, Q3_K and Q6_K x Q8_K: per super-block 16 groups of 16, each with one scale.
//! The quants are made unsigned (offset `o`) for `maddubs`; the offset comes back as
//! `o * Σ_g scale_g * bsum_g` from the activation's group sums.

use std::arch::x86_64::*;

use super::{hsum, load16, load32, read_f16};
use crate::cpu::x86::layout::{q3k_scales_offset, q8k_d};
use crate::quant::{q2_k, q3_k, q6_k, q8_k};

/// `Σ_g scale_g * dot(q_g, y_g)` into 8 i32 lanes, for the 8 chunks `$q[t]` of 32
/// unsigned quants (< 64) of one super-block, `$y` its 256 activation bytes and `$sc`
/// the 16 signed byte scales. A macro so that it always inlines (see `macros.rs`).
macro_rules! scaled_sum {
    ($q:expr, $y:expr, $sc:expr) => {{
        let (q, y, sc): (&[__m256i; 8], &[u8], __m128i) = ($q, $y, $sc);
        // Groups 0..8 and 8..16 as i16, the same 8 lanes in both halves.
        let halves = [
            _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc)),
            _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128::<8>(sc))),
        ];
        let mut sum = _mm256_setzero_si256();
        for (t, &qt) in q.iter().enumerate() {
            // Chunk t covers groups 2t (low 16 bytes) and 2t + 1 (high 16 bytes).
            let p = 2 * (t % 4) as i16;
            let pick = _mm256_set_m128i(
                _mm_set1_epi16(0x0100 + 0x0202 * (p + 1)),
                _mm_set1_epi16(0x0100 + 0x0202 * p),
            );
            let scale = _mm256_shuffle_epi8(halves[t / 4], pick);
            let prod = _mm256_maddubs_epi16(qt, load32(&y[32 * t..]));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(prod, scale));
        }
        sum
    }};
}

/// `Σ_g scale_g * bsum_g` into 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scaled_bsums(sc: __m128i, bx: &[u8]) -> __m256i {
    _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load32(&bx[q8_k::BSUMS..]))
}

/// The 2-bit fields of the 64 bytes at `qs` (Q2_K quants, Q3_K low bits) in chunk
/// order: chunk `4h + s` is bits `2s..2s+2` of bytes `32h..32h+32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn two_bit_chunks(qs: &[u8]) -> [__m256i; 8] {
    let m3 = _mm256_set1_epi8(3);
    let mut q = [_mm256_setzero_si256(); 8];
    for h in 0..2 {
        // Shifting 16-bit lanes moves bits across bytes only into bits the mask drops.
        let mut v = load32(&qs[32 * h..]);
        for s in 0..4 {
            q[4 * h + s] = _mm256_and_si256(v, m3);
            v = _mm256_srli_epi16::<2>(v);
        }
    }
    q
}

/// A Q6_K super-block's weight side, unpacked once (the tiles dot it with several
/// tokens): the quants + 32 as 8 chunks of 32, the 16 scales and `d`.
pub(super) struct Q6kBlock {
    q: [__m256i; 8],
    sc: __m128i,
    d: f32,
}

impl Q6kBlock {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn new(bw: &[u8]) -> Self {
        let m4 = _mm256_set1_epi8(0x0f);
        let (b01, b23, b45) = (
            _mm256_set1_epi8(0x03),
            _mm256_set1_epi8(0x0c),
            _mm256_set1_epi8(0x30),
        );
        let mut q = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ql0 = load32(&bw[q6_k::QL + 64 * h..]);
            let ql1 = load32(&bw[q6_k::QL + 64 * h + 32..]);
            let qh = load32(&bw[q6_k::QH + 32 * h..]);
            // Quant + 32 = low nibble | (two high bits << 4), chunk 4h + s taking
            // bits 2s..2s+2 of qh.
            let hi0 = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, b01));
            let hi1 = _mm256_slli_epi16::<2>(_mm256_and_si256(qh, b23));
            let hi2 = _mm256_and_si256(qh, b45);
            let hi3 = _mm256_and_si256(_mm256_srli_epi16::<2>(qh), b45);
            q[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, m4), hi0);
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), hi1);
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4), hi2);
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4), hi3);
        }
        Q6kBlock {
            q,
            sc: load16(&bw[q6_k::SCALES..]),
            d: read_f16(bw, q6_k::D),
        }
    }

    /// `acc` plus the block's dot with the Q8_K block `bx`, in 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot(&self, bx: &[u8], acc: __m256) -> __m256 {
        let sumi = _mm256_sub_epi32(
            scaled_sum!(&self.q, &bx[q8_k::QS..q8_k::BSUMS], self.sc),
            _mm256_slli_epi32::<5>(scaled_bsums(self.sc, bx)),
        );
        let d = _mm256_set1_ps(self.d * q8k_d(bx));
        _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc)
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q6_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q6_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        acc = Q6kBlock::new(bw).dot(bx, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q3_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let one = _mm256_set1_epi8(1);
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q3_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        // Quant + 4 = low bits | (high bit << 2); chunk t's high bit is bit t of hmask.
        let mut q = two_bit_chunks(&bw[q3_k::QS..]);
        let mut hm = load32(&bw[q3_k::HMASK..]);
        for qt in q.iter_mut() {
            let high = _mm256_slli_epi16::<2>(_mm256_and_si256(hm, one));
            *qt = _mm256_or_si256(*qt, high);
            hm = _mm256_srli_epi16::<1>(hm);
        }
        let sc = q3k_scales_offset(&bw[q3_k::SCALES..q3_k::SCALES + 12]);
        let sc = _mm_sub_epi8(
            _mm_set_epi32(sc[3] as i32, sc[2] as i32, sc[1] as i32, sc[0] as i32),
            _mm_set1_epi8(32),
        );
        let sumi = _mm256_sub_epi32(
            scaled_sum!(&q, &bx[q8_k::QS..q8_k::BSUMS], sc),
            _mm256_slli_epi32::<2>(scaled_bsums(sc, bx)),
        );
        let d = _mm256_set1_ps(read_f16(bw, q3_k::D) * q8k_d(bx));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q2_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q2_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let q = two_bit_chunks(&bw[q2_k::QS..]);
        let packed = load16(&bw[q2_k::SCALES..]);
        let sc = _mm_and_si128(packed, m4);
        let mins = _mm_and_si128(_mm_srli_epi16::<4>(packed), m4);
        let isum = scaled_sum!(&q, &bx[q8_k::QS..q8_k::BSUMS], sc);
        let summ = scaled_bsums(mins, bx);
        let yd = q8k_d(bx);
        let dall = _mm256_set1_ps(yd * read_f16(bw, q2_k::D));
        let dmin = _mm256_set1_ps(yd * read_f16(bw, q2_k::D + 2));
        acc = _mm256_fmadd_ps(dall, _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(summ), acc);
    }
    hsum(acc)
}
