//! Q4_K and Q6_K x Q8_K, 64 values a step: `maddubs` into 16-bit pair sums, then
//! `vpdpwssd` multiplies them by the group scales and accumulates in one instruction.
//! Each weight block is unpacked into a `…Row` first, so that the tiles (`k_tiles`)
//! reuse it for several tokens with exactly the dot kernel's arithmetic.

use std::arch::x86_64::*;

use super::{join, load16, load32, load64, read_f16};
use crate::cpu::x86::layout::{q8k_d, scales_mins};
use crate::quant::{q4_k, q6_k, q8_k};

/// `v` repeated in the four 16-bit lanes of an i64.
const fn words(v: i64) -> i64 {
    v * 0x0001_0001_0001_0001
}

/// A Q4_K block unpacked once for every token it meets: the values of 64-element
/// chunk `c` (low nibbles in the low 256 bits, high in the high) and the group scales
/// each chunk's pair sums multiply.
#[derive(Clone, Copy)]
pub(super) struct Q4kRow {
    q: [__m512i; 4],
    scales: [__m512i; 4],
    mins: __m128i,
    d: f32,
    dmin: f32,
}

impl Q4kRow {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) fn new(bw: &[u8]) -> Self {
        let m4 = _mm512_set1_epi8(0x0f);
        // The high 256 bits take the high nibbles.
        let shifts = _mm512_set_epi64(words(4), words(4), words(4), words(4), 0, 0, 0, 0);
        let sm = scales_mins(&bw[q4_k::SCALES..q4_k::SCALES + 12]);
        let v = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
        let scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(v));
        let qs = &bw[q4_k::QS..];
        Q4kRow {
            q: std::array::from_fn(|c| {
                // Elements 64c..64c+64: low then high nibbles of the same 32 bytes.
                let packed = _mm512_broadcast_i64x4(load32(&qs[32 * c..]));
                _mm512_and_si512(_mm512_srlv_epi16(packed, shifts), m4)
            }),
            scales: std::array::from_fn(|c| {
                let t = 2 * c as i16;
                let pick = join(
                    _mm256_set1_epi16(0x0100 + 0x0202 * t),
                    _mm256_set1_epi16(0x0100 + 0x0202 * (t + 1)),
                );
                _mm512_shuffle_epi8(scales, pick)
            }),
            mins: _mm_cvtepu8_epi16(_mm_srli_si128::<8>(v)),
            d: read_f16(bw, 0),
            dmin: read_f16(bw, 2),
        }
    }

    /// `acc` plus this block's products with the Q8_K block `bx`, 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) fn dot(&self, bx: &[u8], acc: __m512) -> __m512 {
        let bsums = load32(&bx[q8_k::BSUMS..]);
        let pair_sums = _mm_hadd_epi16(
            _mm256_castsi256_si128(bsums),
            _mm256_extracti128_si256::<1>(bsums),
        );
        let summ = _mm_madd_epi16(self.mins, pair_sums);
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = _mm512_setzero_si512();
        for c in 0..4 {
            let prod = _mm512_maddubs_epi16(self.q[c], load64(&y[64 * c..]));
            sumi = _mm512_dpwssd_epi32(sumi, prod, self.scales[c]);
        }
        let yd = q8k_d(bx);
        let acc = _mm512_fmadd_ps(_mm512_set1_ps(self.d * yd), _mm512_cvtepi32_ps(sumi), acc);
        _mm512_fnmadd_ps(
            _mm512_set1_ps(self.dmin * yd),
            _mm512_cvtepi32_ps(_mm512_zextsi128_si512(summ)),
            acc,
        )
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q4_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        acc = Q4kRow::new(bw).dot(bx, acc);
    }
    _mm512_reduce_add_ps(acc)
}

/// A Q6_K block unpacked once for every token it meets: values + 32 of each
/// 64-element chunk and the group scales its pair sums multiply.
#[derive(Clone, Copy)]
pub(super) struct Q6kRow {
    q: [__m512i; 4],
    scales: [__m512i; 4],
    sc16: __m256i,
    d: f32,
}

impl Q6kRow {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) fn new(bw: &[u8]) -> Self {
        let m4 = _mm512_set1_epi8(0x0f);
        let m30 = _mm512_set1_epi8(0x30);
        // Per 256-bit half: chunk 4h (low) and 4h+1 (high) move qh bits 0-1 / 2-3 up
        // to 4-5; chunks 4h+2 and 4h+3 move bits 4-5 / 6-7 there.
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
        let sc16 = _mm256_cvtepi8_epi16(load16(&bw[q6_k::SCALES..]));
        let scales = _mm512_castsi256_si512(sc16);
        let mut q = [_mm512_setzero_si512(); 4];
        for h in 0..2 {
            let ql = load64(&bw[q6_k::QL + 64 * h..]);
            let qh = _mm512_broadcast_i64x4(load32(&bw[q6_k::QH + 32 * h..]));
            // Quant + 32 = low nibble | (two high bits << 4).
            q[2 * h] = _mm512_or_si512(
                _mm512_and_si512(ql, m4),
                _mm512_and_si512(_mm512_sllv_epi16(qh, up), m30),
            );
            q[2 * h + 1] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4),
                _mm512_and_si512(_mm512_srlv_epi16(qh, down), m30),
            );
        }
        Q6kRow {
            q,
            // Register j holds groups 4j..4j+4, one per 128-bit unit; only the low 16
            // lanes of `scales` are read (indices are below 16).
            scales: std::array::from_fn(|j| {
                let j = j as i64;
                let pick = _mm512_set_epi64(
                    words(4 * j + 3),
                    words(4 * j + 3),
                    words(4 * j + 2),
                    words(4 * j + 2),
                    words(4 * j + 1),
                    words(4 * j + 1),
                    words(4 * j),
                    words(4 * j),
                );
                _mm512_permutexvar_epi16(pick, scales)
            }),
            sc16,
            d: read_f16(bw, q6_k::D),
        }
    }

    /// `acc` plus this block's products with the Q8_K block `bx`, 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) fn dot(&self, bx: &[u8], acc: __m512) -> __m512 {
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = _mm512_setzero_si512();
        for j in 0..4 {
            let prod = _mm512_maddubs_epi16(self.q[j], load64(&y[64 * j..]));
            sumi = _mm512_dpwssd_epi32(sumi, prod, self.scales[j]);
        }
        // The +32 offset: Σ_g scale_g * 32 * bsum_g.
        let offset = _mm256_madd_epi16(self.sc16, load32(&bx[q8_k::BSUMS..]));
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32::<5>(offset)));
        let d = _mm512_set1_ps(self.d * q8k_d(bx));
        _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc)
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q6_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        acc = Q6kRow::new(bw).dot(bx, acc);
    }
    _mm512_reduce_add_ps(acc)
}
