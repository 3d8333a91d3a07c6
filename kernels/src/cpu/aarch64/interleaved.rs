//! SDOT kernels for weights interleaved four rows at a time (`cpu::interleave`), for
//! Q4_0 and Q8_0: the formats whose in-place tiles lost to ggml's repacked ones.
//!
//! Per block of a group, one load brings the 4 rows' scales and four more their
//! quants; SDOT by lane multiplies 4 bytes of each row with the same 4 activation
//! bytes, so each row's integer sum builds up in its own lane, with no pairwise
//! folding. A call covers all the groups of a chunk of rows.
//!
//! Integer sums are exact and the f32 work is the tiles' per-format formula
//! ([`Format::block`]), so every output is bit-identical to the dot kernel of the
//! row in ggml's layout.

use std::arch::aarch64::*;
use std::arch::asm;

use super::neon::widen_f16x4;
use super::tiles::{Format, Q4_0, Q8_0};
use crate::cpu::dispatch::TILE_TOKENS;
use crate::cpu::interleave::GROUP;
use crate::quant::q8_0;

/// A format's interleaved quants, unpacked.
pub(super) trait Unpack: Format {
    /// The 8 vectors of a group's block at `p` (its quants): vector `i` holds 4 bytes
    /// of each row, to be multiplied with lane `i % 4` of activation half `i / 4`.
    ///
    /// # Safety
    /// `p` points at the group block's quants.
    unsafe fn unpack(p: *const u8) -> [int8x16_t; 8];
}

impl Unpack for Q4_0 {
    #[inline(always)]
    unsafe fn unpack(p: *const u8) -> [int8x16_t; 8] {
        // Stored XOR 0x88: a nibble shifted to a byte's high half is 16 times its
        // signed value (the sums are shifted back, exactly).
        // SAFETY: the caller guarantees the 64 quant bytes; NEON is baseline.
        unsafe {
            let v = vld1q_s8_x4(p.cast());
            let hi = |q: int8x16_t| vandq_s8(q, vdupq_n_s8(0xf0u8 as i8));
            [
                vshlq_n_s8::<4>(v.0),
                vshlq_n_s8::<4>(v.1),
                vshlq_n_s8::<4>(v.2),
                vshlq_n_s8::<4>(v.3),
                hi(v.0),
                hi(v.1),
                hi(v.2),
                hi(v.3),
            ]
        }
    }
}

impl Unpack for Q8_0 {
    #[inline(always)]
    unsafe fn unpack(p: *const u8) -> [int8x16_t; 8] {
        // SAFETY: the caller guarantees the 128 quant bytes.
        unsafe {
            let (a, b) = (vld1q_s8_x4(p.cast()), vld1q_s8_x4(p.add(64).cast()));
            [a.0, a.1, a.2, a.3, b.0, b.1, b.2, b.3]
        }
    }
}

/// `acc` plus, per lane `r`, the dot of bytes `4r..4r + 4` of `w` with the 4 bytes of
/// lane `L` of `x`.
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
unsafe fn sdot_lane<const L: i32>(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: the caller guarantees dotprod; SDOT reads and writes registers only.
    // (`vdotq_laneq_s32` is not stable Rust yet.)
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{l}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            l = const L,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// The 4 rows' integer sums of a block with one token's 32 quants (`x0`, `x1`), in
/// two chains that a core runs side by side.
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
unsafe fn sums(q: &[int8x16_t; 8], x0: int8x16_t, x1: int8x16_t) -> int32x4_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        let z = vdupq_n_s32(0);
        let a = sdot_lane::<0>(z, q[0], x0);
        let b = sdot_lane::<0>(z, q[4], x1);
        let a = sdot_lane::<1>(a, q[1], x0);
        let b = sdot_lane::<1>(b, q[5], x1);
        let a = sdot_lane::<2>(a, q[2], x0);
        let b = sdot_lane::<2>(b, q[6], x1);
        let a = sdot_lane::<3>(a, q[3], x0);
        let b = sdot_lane::<3>(b, q[7], x1);
        vaddq_s32(a, b)
    }
}

/// `T` tokens (Q8_0 rows `qb` bytes apart from `x`) against `groups` groups from `w`
/// (`blocks` blocks a row), into `out[t * stride + 4g + r]`.
///
/// # Safety
/// Whole groups and activation blocks as stated, `out` has room, the CPU has dotprod.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_tokens<F: Unpack, const T: usize>(
    w: *const u8,
    groups: usize,
    blocks: usize,
    x: *const u8,
    qb: usize,
    out: *mut f32,
    stride: usize,
) {
    let gb = GROUP * F::WB;
    let mut p = w;
    for g in 0..groups {
        let mut acc = [vdupq_n_f32(0.0); T];
        let mut xp = x;
        for _ in 0..blocks {
            // SAFETY (this block): `p` walks the group's blocks and `xp` the tokens'
            // blocks, both whole as the caller vouches; dotprod is the caller's.
            unsafe {
                let dw = widen_f16x4(vld1_u16(p.cast()));
                let q = F::unpack(p.add(2 * GROUP));
                for (t, acc) in acc.iter_mut().enumerate() {
                    let xt = xp.add(t * qb);
                    let (x0, x1) = (vld1q_s8(xt.add(2).cast()), vld1q_s8(xt.add(18).cast()));
                    let dx = vgetq_lane_f32::<0>(widen_f16x4(vld1_dup_u16(xt.cast())));
                    let mut s = sums(&q, x0, x1);
                    if F::TIMES_16 {
                        s = vshrq_n_s32::<4>(s);
                    }
                    *acc = vaddq_f32(*acc, F::block(vcvtq_f32_s32(s), dw, dw, dx, 0.0));
                }
            }
            p = p.wrapping_add(gb);
            xp = xp.wrapping_add(q8_0::BLOCK_BYTES);
        }
        for (t, acc) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees `out` covers every token's groups.
            unsafe { vst1q_f32(out.add(t * stride + GROUP * g), *acc) };
        }
    }
}

/// An [`crate::cpu::dispatch::InterleavedFn`] for format `F`.
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
pub(super) unsafe fn run<F: Unpack>(
    w: &[u8],
    rb: usize,
    act: &[u8],
    n: usize,
    t0: usize,
    count: usize,
    out: &mut [f32],
) {
    let blocks = rb / F::WB;
    let qb = blocks * q8_0::BLOCK_BYTES;
    let groups = w.len() / (GROUP * rb);
    let stride = GROUP * groups;
    assert!(rb == blocks * F::WB && w.len() == groups * GROUP * rb);
    assert!((1..=TILE_TOKENS).contains(&count) && t0 + count <= n && act.len() >= n * qb);
    assert!(out.len() >= count * stride);
    let mut done = 0;
    // Runs of 8, 4, 2 and 1 tokens, each with its accumulators in registers.
    while done < count {
        let x = act[(t0 + done) * qb..].as_ptr();
        let o = out[done * stride..].as_mut_ptr();
        let w = w.as_ptr();
        let run = match count - done {
            8.. => 8,
            4..=7 => 4,
            2 | 3 => 2,
            _ => 1,
        };
        // SAFETY: the asserts above cover the groups, the tokens' blocks and the
        // outputs; dotprod is the caller's guarantee.
        unsafe {
            match run {
                8 => run_tokens::<F, 8>(w, groups, blocks, x, qb, o, stride),
                4 => run_tokens::<F, 4>(w, groups, blocks, x, qb, o, stride),
                2 => run_tokens::<F, 2>(w, groups, blocks, x, qb, o, stride),
                _ => run_tokens::<F, 1>(w, groups, blocks, x, qb, o, stride),
            }
        }
        done += run;
    }
}
