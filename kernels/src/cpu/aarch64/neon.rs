//! NEON building blocks shared by the aarch64 kernels, the baseline integer dot step
//! and the float kernels (F32 and F16 rows).
//!
//! NEON (Advanced SIMD) is mandatory on aarch64, so these need no run-time check; the
//! `#[target_feature(enable = "neon")]` attributes only make the intrinsics safe to call.

use std::arch::aarch64::*;
use std::arch::asm;

/// One step of an integer dot product: `acc` plus the 16 products `a[i] * b[i]`,
/// folded into 4 `i32` lanes. Which lane receives which product is up to the
/// implementation: callers only ever use the sum of the lanes (or scale the whole
/// vector by one factor).
pub(super) trait I8Dot {
    /// # Safety
    /// The CPU must have the target features the implementation is compiled with.
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// The plain ARMv8.0 step: widening multiplies into `i16` (|i8 * i8| <= 2^14 fits),
/// then pairwise add-accumulate into `i32`.
pub(super) struct Neon;

impl I8Dot for Neon {
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

/// The 16 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn load_u8(b: &[u8]) -> uint8x16_t {
    assert!(b.len() >= 16);
    // SAFETY: 16 readable bytes checked above; LD1 has no alignment requirement.
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// The 16 bytes at the start of `b` as signed bytes.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn load_i8(b: &[u8]) -> int8x16_t {
    vreinterpretq_s8_u8(load_u8(b))
}

/// The 4 f32 at the start of `a`.
#[inline]
#[target_feature(enable = "neon")]
fn load_f32(a: &[f32]) -> float32x4_t {
    assert!(a.len() >= 4);
    // SAFETY: 4 readable f32 checked above; the pointer comes from a slice, so aligned.
    unsafe { vld1q_f32(a.as_ptr()) }
}

/// The 4 little-endian f32 in the 16 bytes at the start of `b` (the crate is built
/// for little-endian aarch64 only, see `cpu/mod.rs`).
#[inline]
#[target_feature(enable = "neon")]
fn load_f32_le(b: &[u8]) -> float32x4_t {
    vreinterpretq_f32_u8(load_u8(b))
}

/// The 8 little-endian f16 in the 16 bytes at the start of `b`, widened to f32:
/// elements 0..4 and 4..8. FCVTL is base ARMv8.0 (the f16 NEON intrinsics need a
/// newer Rust than the crate's minimum, so the instruction is written out).
#[inline]
#[target_feature(enable = "neon")]
fn load_f16x8(b: &[u8]) -> (float32x4_t, float32x4_t) {
    let h = load_u8(b);
    let (lo, hi): (float32x4_t, float32x4_t);
    // SAFETY: register-only conversions present on every aarch64 CPU; `out` operands
    // never share a register with the input, so the first write cannot clobber `h`.
    unsafe {
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    (lo, hi)
}

/// Four f16 (as bits) widened to f32, exactly.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn widen_f16x4(v: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: a register-only conversion present on every aarch64 CPU.
    unsafe {
        asm!(
            "fcvtl {o:v}.4s, {v:v}.4h",
            v = in(vreg) v,
            o = out(vreg) out,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The high 4 f16 (as bits) of `v` widened to f32, exactly (FCVTL2, base ARMv8.0;
/// see `widen_f16x4` for the low 4).
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn widen_high_f16x4(v: uint16x8_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: a register-only conversion present on every aarch64 CPU.
    unsafe {
        asm!(
            "fcvtl2 {o:v}.4s, {v:v}.8h",
            v = in(vreg) v,
            o = out(vreg) out,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The little-endian f16 at `b[off..off + 2]` as f32 (a block scale or a row's
/// tail), converted by the SIMD unit: cheaper in an inner loop than the lookup table.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn read_f16(b: &[u8], off: usize) -> f32 {
    let bits = u16::from_le_bytes([b[off], b[off + 1]]);
    vgetq_lane_f32::<0>(widen_f16x4(vdup_n_u16(bits)))
}

/// Sum of `a[i] * b[i]` over the common length, 16 values a step in 4 accumulators.
#[target_feature(enable = "neon")]
fn f32_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [vdupq_n_f32(0.0); 4];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for (k, lane) in acc.iter_mut().enumerate() {
            *lane = vfmaq_f32(*lane, load_f32(&x[4 * k..]), load_f32(&y[4 * k..]));
        }
    }
    let mut s = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// F32 weight row (bytes) times F32 activation row (bytes).
#[target_feature(enable = "neon")]
fn f32_bytes(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let (wc, xc) = (w.chunks_exact(64), x.chunks_exact(64));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (a, b) in wc.zip(xc) {
        for (k, lane) in acc.iter_mut().enumerate() {
            *lane = vfmaq_f32(*lane, load_f32_le(&a[16 * k..]), load_f32_le(&b[16 * k..]));
        }
    }
    let mut s = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for (a, b) in wr.chunks_exact(4).zip(xr.chunks_exact(4)) {
        s += f32::from_le_bytes([a[0], a[1], a[2], a[3]])
            * f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    s
}

/// F16 weight row times F16 activation row, 16 values a step in 4 accumulators.
#[target_feature(enable = "neon")]
fn f16_f16(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let (wc, xc) = (w.chunks_exact(32), x.chunks_exact(32));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (a, b) in wc.zip(xc) {
        let (a0, a1) = load_f16x8(a);
        let (a2, a3) = load_f16x8(&a[16..]);
        let (b0, b1) = load_f16x8(b);
        let (b2, b3) = load_f16x8(&b[16..]);
        acc[0] = vfmaq_f32(acc[0], a0, b0);
        acc[1] = vfmaq_f32(acc[1], a1, b1);
        acc[2] = vfmaq_f32(acc[2], a2, b2);
        acc[3] = vfmaq_f32(acc[3], a3, b3);
    }
    let mut s = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for (a, b) in wr.chunks_exact(2).zip(xr.chunks_exact(2)) {
        s += read_f16(a, 0) * read_f16(b, 0);
    }
    s
}

// Safe entries for the dispatch table.

pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { f32_f32(a, b) }
}

pub(super) fn vec_dot_f32(w: &[u8], x: &[u8]) -> f32 {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { f32_bytes(w, x) }
}

pub(super) fn vec_dot_f16(w: &[u8], x: &[u8]) -> f32 {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { f16_f16(w, x) }
}

/// Safe table entries running a block kernel with the plain NEON dot step.
macro_rules! neon_entries {
    ($($entry:ident => $module:ident::$kernel:ident;)*) => {$(
        pub(super) fn $entry(w: &[u8], x: &[u8]) -> f32 {
            // SAFETY: NEON, all that `Neon::dot` needs, is part of the aarch64 baseline.
            unsafe { super::$module::$kernel::<Neon>(w, x) }
        }
    )*};
}

neon_entries! {
    vec_dot_q4_0_q8_0 => legacy::q4_0_q8_0;
    vec_dot_q4_1_q8_1 => legacy::q4_1_q8_1;
    vec_dot_q5_0_q8_0 => legacy::q5_0_q8_0;
    vec_dot_q5_1_q8_1 => legacy::q5_1_q8_1;
    vec_dot_q8_0_q8_0 => legacy::q8_0_q8_0;
    vec_dot_q4_k_q8_k => kquants::q4_k_q8_k;
    vec_dot_q5_k_q8_k => kquants::q5_k_q8_k;
    vec_dot_q6_k_q8_k => kquants::q6_k_q8_k;
}

super::tiles::tile_entries! {
    "neon", Neon;
    tile_q4_0_q8_0 => Q4_0;
    tile_q4_1_q8_1 => Q4_1;
    tile_q5_0_q8_0 => Q5_0;
    tile_q8_0_q8_0 => Q8_0;
}
