//! Activation quantizers (Q8_0, Q8_1) with NEON: the reference `quant::q8_0` and
//! `quant::q8_1` formulas 32 values a step, byte-identical to them (tested), since
//! they run once per token and matrix on every forward pass.
//!
//! Only the per-value work is vectorized; the scale `d` and its inverse are the
//! reference's scalar expressions, so they round identically.

use std::arch::aarch64::*;
use std::arch::asm;

use crate::quant::{q8_0, q8_1};

/// `quant::float::f32_to_f16(x)` by FCVT (base ARMv8.0), without `half`'s per-call
/// feature check: it is the instruction `half` runs where the CPU has FEAT_FP16, and
/// its software path elsewhere rounds the same way (to nearest even, overflow to
/// infinity, NaNs quieted with their top payload bits; tested).
#[inline]
pub(super) fn f32_to_f16(x: f32) -> u16 {
    let h: f32;
    // SAFETY: a register-only conversion present on every aarch64 CPU; writing the
    // half register zeroes the rest of `h`.
    unsafe {
        asm!(
            "fcvt {h:h}, {x:s}",
            x = in(vreg) x,
            h = out(vreg) h,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    h.to_bits() as u16
}

/// The 32 f32 at the start of `x`.
#[inline]
#[target_feature(enable = "neon")]
fn load32(x: &[f32]) -> [float32x4_t; 8] {
    assert!(x.len() >= 32);
    // SAFETY: 32 readable f32 checked above; LD1 has no alignment requirement.
    std::array::from_fn(|i| unsafe { vld1q_f32(x.as_ptr().add(4 * i)) })
}

/// The largest |v| of the block `x` (held in `v`), as the reference `absmax` finds
/// it. Without NaNs that is FMAX's result; a NaN, which FMAX spreads but the
/// reference's fold forgets unless it comes last, sends the block to the reference.
#[inline]
#[target_feature(enable = "neon")]
fn absmax32(x: &[f32], v: &[float32x4_t; 8]) -> f32 {
    let a = v.map(|v| vabsq_f32(v));
    let m = vmaxq_f32(
        vmaxq_f32(vmaxq_f32(a[0], a[1]), vmaxq_f32(a[2], a[3])),
        vmaxq_f32(vmaxq_f32(a[4], a[5]), vmaxq_f32(a[6], a[7])),
    );
    let amax = vmaxvq_f32(m);
    if amax.is_nan() {
        absmax_with_nan(x)
    } else {
        amax
    }
}

/// The reference `absmax`, out of line so that the hot path stays small enough to
/// inline.
#[cold]
#[inline(never)]
fn absmax_with_nan(x: &[f32]) -> f32 {
    q8_0::absmax(x)
}

/// `(v * id).round() as i8` for the 32 values, in order: FCVTAS rounds halves away
/// from zero as `round` does, and the saturating narrows clamp as `as i8` does
/// (+inf to 127 and -inf to -128 through i32::MAX and MIN; NaN gives 0 in both).
#[inline]
#[target_feature(enable = "neon")]
fn round32(v: &[float32x4_t; 8], id: f32) -> [int8x16_t; 2] {
    let q: [int32x4_t; 8] = std::array::from_fn(|i| vcvtaq_s32_f32(vmulq_n_f32(v[i], id)));
    let h: [int16x8_t; 4] =
        std::array::from_fn(|i| vqmovn_high_s32(vqmovn_s32(q[2 * i]), q[2 * i + 1]));
    [
        vqmovn_high_s16(vqmovn_s16(h[0]), h[1]),
        vqmovn_high_s16(vqmovn_s16(h[2]), h[3]),
    ]
}

/// The 32 quantized bytes at the start of `b`.
#[inline]
#[target_feature(enable = "neon")]
fn store32(b: &mut [u8], q: [int8x16_t; 2]) {
    assert!(b.len() >= 32);
    // SAFETY: 32 writable bytes checked above; ST1 has no alignment requirement.
    unsafe {
        vst1q_s8(b.as_mut_ptr().cast(), q[0]);
        vst1q_s8(b.as_mut_ptr().add(16).cast(), q[1]);
    }
}

/// The scale of a block with largest magnitude `amax` and its inverse, as the
/// reference computes them.
#[inline]
fn scale(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

#[target_feature(enable = "neon")]
fn q8_0(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(q8_0::QK)
        .zip(dst.chunks_exact_mut(q8_0::BLOCK_BYTES))
    {
        let v = load32(x);
        let (d, id) = scale(absmax32(x, &v));
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        store32(&mut b[2..], round32(&v, id));
    }
}

#[target_feature(enable = "neon")]
fn q8_1(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(q8_1::QK)
        .zip(dst.chunks_exact_mut(q8_1::BLOCK_BYTES))
    {
        let v = load32(x);
        let (d, id) = scale(absmax32(x, &v));
        let q = round32(&v, id);
        // The sum of the stored (saturated) quants; an integer sum, so the order is
        // free, and |sum| <= 32 * 128 fits SADDLV's i16.
        let sum = vaddlvq_s8(q[0]) as i32 + vaddlvq_s8(q[1]) as i32;
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        b[2..4].copy_from_slice(&f32_to_f16(sum as f32 * d).to_le_bytes());
        store32(&mut b[4..], q);
    }
}

// Safe entries for the dispatch table.

pub(super) fn quantize_q8_0(src: &[f32], dst: &mut [u8]) {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { q8_0(src, dst) }
}

pub(super) fn quantize_q8_1(src: &[f32], dst: &mut [u8]) {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { q8_1(src, dst) }
}
