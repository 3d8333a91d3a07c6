//! AVX2 reading of quantized KV rows (the definitions are in `ops::kv_quant`): 8
//! quants a step widened to i32, converted exactly and multiplied by the block scale
//! once, as the scalar version does, so the results are bit-identical. Quants of a
//! run that do not fill 8 lanes (a row range starting or ending inside a block, a
//! Q4_0 step that would straddle its two nibble halves) go one at a time.

use std::arch::x86_64::*;

use super::read_f16;
use crate::cpu::ops::kv_quant::{block_runs, q4_0_quant};
use crate::quant::{q4_0, q8_0};

/// The 8 bytes at the start of `b` in the low half of a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load8(b: &[u8]) -> __m128i {
    let b: [u8; 8] = b[..8].try_into().expect("8 bytes");
    _mm_cvtsi64_si128(i64::from_le_bytes(b))
}

/// Stores 8 f32 at the start of `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store(s: &mut [f32], v: __m256) {
    assert!(s.len() >= 8);
    // SAFETY: 8 writable f32 checked above; storeu has no alignment requirement.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequant_q8_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q8_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        let vd = _mm256_set1_ps(d);
        let out = &mut out[o..o + j1 - j0];
        let mut j = j0;
        while j + 8 <= j1 {
            let q = _mm256_cvtepi8_epi32(load8(&blk[2 + j..]));
            store(&mut out[j - j0..], _mm256_mul_ps(_mm256_cvtepi32_ps(q), vd));
            j += 8;
        }
        for (y, &q) in out[j - j0..].iter_mut().zip(&blk[2 + j..2 + j1]) {
            *y = (q as i8) as f32 * d;
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequant_q4_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q4_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        let vd = _mm256_set1_ps(d);
        let out = &mut out[o..o + j1 - j0];
        let mut j = j0;
        while j < j1 {
            // Quants 0..16 are the low nibbles of the 16 bytes, 16..32 the high ones.
            let half_end = if j < 16 { 16 } else { 32 };
            if j + 8 <= half_end.min(j1) {
                let bytes = _mm256_cvtepu8_epi32(load8(&blk[2 + j % 16..]));
                let nib = if j < 16 {
                    _mm256_and_si256(bytes, _mm256_set1_epi32(0x0f))
                } else {
                    _mm256_srli_epi32::<4>(bytes)
                };
                let q = _mm256_sub_epi32(nib, _mm256_set1_epi32(8));
                store(&mut out[j - j0..], _mm256_mul_ps(_mm256_cvtepi32_ps(q), vd));
                j += 8;
            } else {
                out[j - j0] = q4_0_quant(&blk[2..], j) as f32 * d;
                j += 1;
            }
        }
    }
}
