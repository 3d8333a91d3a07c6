//! Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights (blocks of 32) against Q8_0/Q8_1
//! activations: the per-block formulas of `scalar/`, with the integer dot step `D`.
//!
//! Each block's integer sum is exact, and the f32 work is the scalar kernel's, in its
//! order: these agree with `scalar/` to the last bit, and so with the tiles
//! (`tiles.rs`), which follow the same order for 4 rows at once.

use std::arch::aarch64::*;

use super::neon::{load_i8, load_u8, read_f16, I8Dot};
use crate::quant::{q4_0, q4_1, q5_0, q5_1, q8_0, q8_1};

/// `D::dot` over 32 pairs: `$a0`, `$a1` against the 32 signed bytes at the start
/// of `$y`, as an `int32x4_t`. A macro, not a fn: a helper compiled for NEON alone
/// cannot inline SDOT, so it would leave a call per step in the dotprod kernels.
/// Expands to an unsafe call: the caller must guarantee `D`'s features.
macro_rules! dot32 {
    ($d:ty, $a0:expr, $a1:expr, $y:expr $(,)?) => {{
        let y: &[u8] = $y;
        let (y0, y1) = (load_i8(y), load_i8(&y[16..]));
        <$d>::dot(<$d>::dot(vdupq_n_s32(0), $a0, y0), $a1, y1)
    }};
}
pub(super) use dot32;

/// The 32 nibbles of 16 packed bytes: low nibbles (elements 0..16) and high nibbles
/// (16..32), ggml's order.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn nibbles(b: &[u8]) -> (uint8x16_t, uint8x16_t) {
    let v = load_u8(b);
    (vandq_u8(v, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(v))
}

/// The fifth bits of a Q5 block as `0x10` bytes: byte `j` of the first vector is set
/// when bit `j` of `qh` is, byte `j` of the second when bit `j + 16` is.
#[inline]
#[target_feature(enable = "neon")]
fn fifth_bits(qh: &[u8]) -> (uint8x16_t, uint8x16_t) {
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    let bit = load_u8(&BIT);
    let spread = |a: u8, b: u8| vcombine_u8(vdup_n_u8(a), vdup_n_u8(b));
    let bit4 = vdupq_n_u8(0x10);
    (
        vandq_u8(vtstq_u8(spread(qh[0], qh[1]), bit), bit4),
        vandq_u8(vtstq_u8(spread(qh[2], qh[3]), bit), bit4),
    )
}

/// Quants stored with an offset (0..=15 or 0..=31) as signed bytes, minus `offset`.
#[inline]
#[target_feature(enable = "neon")]
fn signed(v: uint8x16_t, offset: i8) -> int8x16_t {
    vsubq_s8(vreinterpretq_s8_u8(v), vdupq_n_s8(offset))
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q8_0_q8_0<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q8_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        // SAFETY: the caller guarantees D's features.
        let sumi = unsafe { dot32!(D, load_i8(&bw[2..]), load_i8(&bw[18..]), &bx[2..]) };
        sumf += vaddvq_s32(sumi) as f32 * (read_f16(bw, 0) * read_f16(bx, 0));
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q4_0_q8_0<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q4_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let (lo, hi) = nibbles(&bw[2..]);
        // SAFETY: the caller guarantees D's features.
        let sumi = unsafe { dot32!(D, signed(lo, 8), signed(hi, 8), &bx[2..]) };
        sumf += vaddvq_s32(sumi) as f32 * read_f16(bw, 0) * read_f16(bx, 0);
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q4_1_q8_1<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q4_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let (lo, hi) = nibbles(&bw[4..]);
        // SAFETY: the caller guarantees D's features.
        let sumi = unsafe { dot32!(D, signed(lo, 0), signed(hi, 0), &bx[4..]) };
        sumf += (read_f16(bw, 0) * read_f16(bx, 0)) * vaddvq_s32(sumi) as f32
            + read_f16(bw, 2) * read_f16(bx, 2);
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q5_0_q8_0<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q5_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let (h0, h1) = fifth_bits(&bw[2..6]);
        let (lo, hi) = nibbles(&bw[6..]);
        let (q0, q1) = (signed(vorrq_u8(lo, h0), 16), signed(vorrq_u8(hi, h1), 16));
        // SAFETY: the caller guarantees D's features.
        let sumi = unsafe { dot32!(D, q0, q1, &bx[2..]) };
        sumf += (read_f16(bw, 0) * read_f16(bx, 0)) * vaddvq_s32(sumi) as f32;
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q5_1_q8_1<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q5_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let (h0, h1) = fifth_bits(&bw[4..8]);
        let (lo, hi) = nibbles(&bw[8..]);
        let (q0, q1) = (signed(vorrq_u8(lo, h0), 0), signed(vorrq_u8(hi, h1), 0));
        // SAFETY: the caller guarantees D's features.
        let sumi = unsafe { dot32!(D, q0, q1, &bx[4..]) };
        sumf += (read_f16(bw, 0) * read_f16(bx, 0)) * vaddvq_s32(sumi) as f32
            + read_f16(bw, 2) * read_f16(bx, 2);
    }
    sumf
}
