//! f32 x f32 and f16 x f16 dots: four independent 8-lane FMA chains, F16C widening
//! the f16 rows.

use std::arch::x86_64::*;

use super::{hsum, read_f16};

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f32_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, lane) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8k + 8 <= n, within both slices.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(i + 8 * k)),
                    _mm256_loadu_ps(b.as_ptr().add(i + 8 * k)),
                )
            };
            *lane = _mm256_fmadd_ps(va, vb, *lane);
        }
        i += 32;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum(sum);
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

/// 8 f16 values from the 16 bytes at `b[off..]`, widened to f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f16x8(b: &[u8], off: usize) -> __m256 {
    assert!(b.len() >= off + 16);
    // SAFETY: 16 readable bytes from `off` checked above; loadu has no alignment
    // requirement.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(b.as_ptr().add(off).cast()) })
}

/// Rows of little-endian f16 values (2 bytes each).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn f16_f16(w: &[u8], x: &[u8]) -> f32 {
    let n = w.len().min(x.len()) / 2 * 2;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, lane) in acc.iter_mut().enumerate() {
            let off = i + 16 * k;
            *lane = _mm256_fmadd_ps(load_f16x8(w, off), load_f16x8(x, off), *lane);
        }
        i += 64;
    }
    while i + 16 <= n {
        acc[0] = _mm256_fmadd_ps(load_f16x8(w, i), load_f16x8(x, i), acc[0]);
        i += 16;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum(sum);
    while i < n {
        s += read_f16(w, i) * read_f16(x, i);
        i += 2;
    }
    s
}
