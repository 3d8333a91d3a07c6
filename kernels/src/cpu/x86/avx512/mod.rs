//! AVX-512 (F, BW, VL) + VNNI dot kernels, installed by `x86::upgrade` over the AVX2
//! set only for the types where they measured faster: 512-bit registers for F16, Q4_K
//! and Q6_K (`vpdpwssd` fusing the K-quants' scale multiply and accumulate), 256-bit
//! `vpdpbusd` for the 32-value block formats (where 512-bit versions, two blocks a
//! step, measured about half as fast as AVX2 because of the extra shuffles). A tail
//! shorter than one 512-bit step goes to the AVX2 kernel.

use std::arch::x86_64::*;

pub(crate) use k_tiles::{tile_q4_k_q8_k, tile_q6_k_q8_k};
pub(crate) use q4_0_tile::{prepare_for_q4_0, tile_q4_0_q8_0, PREPARED as PREPARED_Q4_0};
pub(crate) use tiles::{
    prepare_for_q4_q5_1, prepare_for_q5_0, prepare_for_q8_0, tile_q4_1_q8_1, tile_q5_0_q8_0,
    tile_q5_1_q8_1, tile_q8_0_q8_0, PREPARED_Q8_0, PREPARED_Q8_1,
};

mod float;
mod k_quants;
mod k_tiles;
mod q4_0_tile;
mod tiles;
mod vnni256;

/// 64 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64(b: &[u8]) -> __m512i {
    assert!(b.len() >= 64);
    // SAFETY: 64 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 32 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load32(b: &[u8]) -> __m256i {
    assert!(b.len() >= 32);
    // SAFETY: 32 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// 16 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load16(b: &[u8]) -> __m128i {
    assert!(b.len() >= 16);
    // SAFETY: 16 readable bytes checked above; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// `lo` in the low 256 bits, `hi` in the high 256.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// The little-endian f16 at `b[off..off + 2]`, converted by the F16C unit.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn read_f16(b: &[u8], off: usize) -> f32 {
    let bits = u16::from_le_bytes([b[off], b[off + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// True when [`super::upgrade`] may install these kernels.
pub(super) fn detected() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// Generates the safe dispatch-table entry `$name` for the kernel `$kernel`.
macro_rules! entries {
    ($($name:ident => $kernel:path,)*) => {$(
        pub(crate) fn $name(w: &[u8], x: &[u8]) -> f32 {
            // SAFETY: installed only after `x86::upgrade` detected AVX-512 F, BW, VL
            // and VNNI next to AVX2, FMA and F16C.
            unsafe { $kernel(w, x) }
        }
    )*};
}

entries! {
    vec_dot_q4_0_q8_0 => vnni256::q4_0_q8_0,
    vec_dot_q4_1_q8_1 => vnni256::q4_1_q8_1,
    vec_dot_q5_0_q8_0 => vnni256::q5_0_q8_0,
    vec_dot_q5_1_q8_1 => vnni256::q5_1_q8_1,
    vec_dot_q8_0_q8_0 => vnni256::q8_0_q8_0,
    vec_dot_q4_k_q8_k => k_quants::q4_k_q8_k,
    vec_dot_q6_k_q8_k => k_quants::q6_k_q8_k,
    vec_dot_f16_f16 => float::f16_f16,
}
