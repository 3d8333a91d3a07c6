//! AVX2 + FMA + F16C dot kernels: the same per-block formulas as `scalar/`, 32 values a
//! step. One file per weight family; this one holds the shared lane helpers and the
//! safe entries `x86::upgrade` installs after checking the CPU has all three features.

use std::arch::x86_64::*;

use crate::cpu::dispatch::{Ops, SCORE_LANES};
use crate::cpu::ops::{RopeAngles, RopeStyle};

mod float;
mod fused;
mod k16;
mod k32;
mod k_tiles;
mod kv_quant;
mod ops;
mod q4_q8;
mod q5;
mod quantize;
mod tiles;

pub(crate) use k_tiles::{tile_q4_k_q8_k, tile_q5_k_q8_k, tile_q6_k_q8_k};
pub(crate) use tiles::{
    prepare_for_q4_0, prepare_for_q4_q5_1, prepare_for_q5_0, prepare_for_q8_0, tile_q4_0_q8_0,
    tile_q4_1_q8_1, tile_q5_0_q8_0, tile_q5_1_q8_1, tile_q8_0_q8_0, PREPARED,
};

/// The little-endian f16 at `b[off..off + 2]`, converted by the F16C unit: block
/// scales are read in every inner loop, where a table lookup costs more.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn read_f16(b: &[u8], off: usize) -> f32 {
    let bits = u16::from_le_bytes([b[off], b[off + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// `f16(w[0..2]) * f16(x[0..2])`, the two block scales widened by one F16C instruction.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn scale_product(w: &[u8], x: &[u8]) -> f32 {
    let bits =
        u16::from_le_bytes([w[0], w[1]]) as i32 | (u16::from_le_bytes([x[0], x[1]]) as i32) << 16;
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
    _mm_cvtss_f32(_mm_mul_ss(v, _mm_movehdup_ps(v)))
}

/// Lane 1 of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn lane1(v: __m128) -> f32 {
    _mm_cvtss_f32(_mm_movehdup_ps(v))
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// 32 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load32(b: &[u8]) -> __m256i {
    assert!(b.len() >= 32);
    // SAFETY: 32 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// 16 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load16(b: &[u8]) -> __m128i {
    assert!(b.len() >= 16);
    // SAFETY: 16 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// The 32 nibbles of 16 packed bytes as bytes: low nibbles (elements 0..16) in the
/// low half, high nibbles (16..32) in the high half — ggml's element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn nibbles(b: &[u8]) -> __m256i {
    let packed = load16(b);
    let mask = _mm_set1_epi8(0x0f);
    let lo = _mm_and_si128(packed, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// Byte `i` is 0xff when bit `i` of `bits` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn bit_bytes(bits: u32) -> __m256i {
    // Byte i takes byte i/8 of `bits`, then keeps bit i%8 of it.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    let select = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select)
}

/// Sum over 32 pairs of `u * s` (u unsigned bytes, s signed bytes) into 8 i32 lanes;
/// pairs of products must fit an i16 (true for u < 128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_u8_i8_i32(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// [`dot_u8_i8_i32`] as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(dot_u8_i8_i32(u, s))
}

/// Sum over 32 pairs of signed bytes: |a| * (b with a's sign), so maddubs applies.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_i8_i8(a: __m256i, b: __m256i) -> __m256 {
    dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

/// Generates the safe dispatch-table entry `$name` for the kernel `$kernel`.
macro_rules! entries {
    ($($name:ident => $kernel:path,)*) => {$(
        pub(crate) fn $name(w: &[u8], x: &[u8]) -> f32 {
            // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
            unsafe { $kernel(w, x) }
        }
    )*};
}

entries! {
    vec_dot_q4_0_q8_0 => q4_q8::q4_0_q8_0,
    vec_dot_q4_1_q8_1 => q4_q8::q4_1_q8_1,
    vec_dot_q8_0_q8_0 => q4_q8::q8_0_q8_0,
    vec_dot_q5_0_q8_0 => q5::q5_0_q8_0,
    vec_dot_q5_1_q8_1 => q5::q5_1_q8_1,
    vec_dot_q2_k_q8_k => k16::q2_k_q8_k,
    vec_dot_q3_k_q8_k => k16::q3_k_q8_k,
    vec_dot_q6_k_q8_k => k16::q6_k_q8_k,
    vec_dot_q4_k_q8_k => k32::q4_k_q8_k,
    vec_dot_q5_k_q8_k => k32::q5_k_q8_k,
    vec_dot_f16_f16 => float::f16_f16,
    fused_q4_0_q8_0 => fused::dot::<tiles::Q4_0>,
    fused_q4_1_q8_1 => fused::dot::<tiles::Q4_1>,
    fused_q5_0_q8_0 => fused::dot::<tiles::Q5_0>,
    fused_q5_1_q8_1 => fused::dot::<tiles::Q5_1>,
    fused_q8_0_q8_0 => fused::dot::<tiles::Q8_0>,
}

pub(crate) fn quantize_q8_0(src: &[f32], dst: &mut [u8]) {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { quantize::q8_0(src, dst) }
}

pub(crate) fn quantize_q8_1(src: &[f32], dst: &mut [u8]) {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { quantize::q8_1(src, dst) }
}

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
    unsafe { float::f32_f32(a, b) }
}

/// The AVX2 element-wise ops table; install only after `x86::upgrade`'s checks.
pub(crate) fn ops_table() -> Ops {
    fn exp(x: &mut [f32]) {
        // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
        unsafe { ops::exp(x) }
    }
    fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::rms_norm(x, weight, eps, out) }
    }
    fn softmax(x: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::softmax(x) }
    }
    fn rope(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
        // SAFETY: as for `exp`.
        unsafe { ops::rope(x, head_dim, angles, style) }
    }
    fn swiglu(gate: &mut [f32], up: &[f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::swiglu(gate, up) }
    }
    fn lane_dots(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]) {
        // SAFETY: as for `exp`.
        unsafe { ops::lane_dots(tile, q, acc) }
    }
    fn axpy(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::axpy(y, a, stride, x) }
    }
    fn key_tile_f16(src: &[u16], stride: usize, m: usize, tile: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::key_tile_f16(src, stride, m, tile) }
    }
    fn key_tile_f32(src: &[f32], stride: usize, m: usize, tile: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { ops::key_tile_f32(src, stride, m, tile) }
    }
    fn dequant_q8_0(row: &[u8], at: usize, out: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { kv_quant::dequant_q8_0(row, at, out) }
    }
    fn dequant_q4_0(row: &[u8], at: usize, out: &mut [f32]) {
        // SAFETY: as for `exp`.
        unsafe { kv_quant::dequant_q4_0(row, at, out) }
    }
    Ops {
        exp,
        rms_norm,
        softmax,
        rope,
        swiglu,
        lane_dots,
        axpy,
        key_tile_f16,
        key_tile_f32,
        dequant_q8_0,
        dequant_q4_0,
    }
}
