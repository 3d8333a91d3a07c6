//! AVX2 + FMA dot kernels: the same per-block formulas as `scalar/`, 32 values a step.
//!
//! Each public function is a safe entry for the dispatch table; `x86::upgrade` installs
//! them only after checking the CPU has AVX2, FMA and F16C.

use std::arch::x86_64::*;

use crate::quant::{q4_0, q4_1, q8_0, q8_1};

/// The little-endian f16 at `b[off..off + 2]`, converted by the F16C unit: block
/// scales are read in every inner loop, where a table lookup costs more.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn read_f16(b: &[u8], off: usize) -> f32 {
    let bits = u16::from_le_bytes([b[off], b[off + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// 32 bytes at the start of `b` (caller checks the length).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(b: &[u8]) -> __m256i {
    assert!(b.len() >= 32);
    // SAFETY: 32 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// The 32 nibbles of 16 packed bytes as bytes: low nibbles (elements 0..16) in the
/// low half, high nibbles (16..32) in the high half — ggml's element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(b: &[u8]) -> __m256i {
    assert!(b.len() >= 16);
    // SAFETY: 16 readable bytes checked above; loadu has no alignment requirement.
    let packed = unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
    let mask = _mm_set1_epi8(0x0f);
    let lo = _mm_and_si128(packed, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// Sum over 32 pairs of `u * s` (u unsigned bytes, s signed bytes) into 8 i32 lanes, as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Sum over 32 pairs of signed bytes: |a| * (b with a's sign), so maddubs applies.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8_i8(a: __m256i, b: __m256i) -> __m256 {
    dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (bw, bx) in w
        .chunks_exact(q8_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(read_f16(bw, 0) * read_f16(bx, 0));
        let p = dot_i8_i8(load32(&bw[2..]), load32(&bx[2..]));
        acc = _mm256_fmadd_ps(d, p, acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let eight = _mm256_set1_epi8(8);
    for (bw, bx) in w
        .chunks_exact(q4_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(read_f16(bw, 0) * read_f16(bx, 0));
        let q = _mm256_sub_epi8(nibbles(&bw[2..]), eight);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(q, load32(&bx[2..])), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for (bw, bx) in w
        .chunks_exact(q4_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let d = _mm256_set1_ps(read_f16(bw, 0) * read_f16(bx, 0));
        mins += read_f16(bw, 2) * read_f16(bx, 2);
        acc = _mm256_fmadd_ps(d, dot_u8_i8(nibbles(&bw[4..]), load32(&bx[4..])), acc);
    }
    hsum(acc) + mins
}

#[target_feature(enable = "avx2,fma,f16c")]
fn f32_f32(a: &[f32], b: &[f32]) -> f32 {
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

// Safe entries for the dispatch table.

pub(super) fn vec_dot_q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { q8_0_q8_0(w, x) }
}

pub(super) fn vec_dot_q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { q4_0_q8_0(w, x) }
}

pub(super) fn vec_dot_q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { q4_1_q8_1(w, x) }
}

pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { f32_f32(a, b) }
}
