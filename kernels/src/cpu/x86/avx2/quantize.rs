//! Activation quantizers (Q8_0, Q8_1) with AVX2: the reference `quant::q8_0` and
//! `quant::q8_1` formulas 32 values a step, bit-identical to them (tested), since
//! they run once per token and matrix on every forward pass.

use std::arch::x86_64::*;

use crate::quant::float::f32_to_f16;
use crate::quant::{q8_0, q8_1};

/// The 32 values at `x` rounded as `(v * id).round() as i8` (halves away from zero,
/// saturating), as bytes in order, and their sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_pack(x: &[f32], id: f32) -> (__m256i, i32) {
    assert!(x.len() >= 32);
    let sign = _mm256_set1_ps(-0.0);
    // The largest float below 0.5: adding it with the value's sign and truncating
    // rounds halves away from zero without pushing 0.49999997 up to 1.
    let half = _mm256_set1_ps(f32::from_bits(0x3eff_ffff));
    let idv = _mm256_set1_ps(id);
    let q: [__m256i; 4] = std::array::from_fn(|i| {
        // SAFETY: 32 readable floats checked above.
        let v = _mm256_mul_ps(unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) }, idv);
        let bias = _mm256_or_ps(_mm256_and_ps(v, sign), half);
        _mm256_cvttps_epi32(_mm256_add_ps(v, bias))
    });
    let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let s = _mm_add_epi32(
        _mm256_castsi256_si128(sum),
        _mm256_extracti128_si256(sum, 1),
    );
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    // Saturating packs interleave 128-bit lanes; the permute restores the order.
    let words = [
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    ];
    let bytes = _mm256_packs_epi16(words[0], words[1]);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    (
        _mm256_permutevar8x32_epi32(bytes, order),
        _mm_cvtsi128_si32(s),
    )
}

/// Largest |v| of the 32 values at `x`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn absmax32(x: &[f32]) -> f32 {
    assert!(x.len() >= 32);
    let sign = _mm256_set1_ps(-0.0);
    // SAFETY: 32 readable floats checked above.
    let a: [__m256; 4] = std::array::from_fn(|i| {
        _mm256_andnot_ps(sign, unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) })
    });
    let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
}

/// The 32 quantized bytes into `b[at..at + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store32(b: &mut [u8], at: usize, v: __m256i) {
    assert!(b.len() >= at + 32);
    // SAFETY: 32 writable bytes checked above; storeu has no alignment requirement.
    unsafe { _mm256_storeu_si256(b.as_mut_ptr().add(at).cast(), v) }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q8_0(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(32)
        .zip(dst.chunks_exact_mut(q8_0::BLOCK_BYTES))
    {
        let d = absmax32(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        store32(b, 2, round_pack(x, id).0);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q8_1(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(32)
        .zip(dst.chunks_exact_mut(q8_1::BLOCK_BYTES))
    {
        let d = absmax32(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let (q, sum) = round_pack(x, id);
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        b[2..4].copy_from_slice(&f32_to_f16(sum as f32 * d).to_le_bytes());
        store32(b, 4, q);
    }
}
