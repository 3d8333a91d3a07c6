//! Matrix tiles for the 32-value block formats (Q4_0, Q4_1, Q5_0, Q8_0): [`TILE_ROWS`]
//! weight rows times up to [`TILE_TOKENS`] tokens a call, for prefill and for decode
//! (one token) alike.
//!
//! A dot product per (row, token) unpacks each weight block once per token and reads
//! each activation block once per row. A tile unpacks a block of its 4 rows once for
//! all its tokens, reads a token's block once for the 4 rows, and folds the 4 rows'
//! integer sums into one vector (three pairwise adds), so each block's scale work is
//! done once per 4 rows. The weights are read in place: no repacked copy of the model.
//!
//! Every block's integer sum is exact, and the f32 work follows the scalar kernel's
//! formula for the format, block after block, with no fused multiply-add: each output
//! is bit-identical to `scalar/`'s dot product (and to the NEON dot kernels in
//! `legacy.rs`, which follow the same order).

use std::arch::aarch64::*;

use super::legacy::nibbles;
use super::neon::{widen_f16x4, I8Dot};
use crate::cpu::dispatch::{Tile, TILE_ROWS, TILE_TOKENS};
use crate::quant::{q4_0, q4_1, q5_0, q8_0, q8_1};

/// How a weight format's blocks are unpacked, and its per-block f32 formula.
pub(super) trait Format {
    /// Bytes of a weight block.
    const WB: usize;
    /// Activations are Q8_1 (scale and sum, then the quants) rather than Q8_0.
    const Q8_1: bool;
    /// The weight block has an f16 minimum after its scale (Q4_1).
    const MIN: bool = false;
    /// [`Format::quants`] are 16 times the quants (sums are shifted back, exactly).
    const TIMES_16: bool = false;

    /// The 32 quants of the weight block at `p`: elements 0..16 and 16..32.
    ///
    /// # Safety
    /// `p` points at a whole weight block.
    unsafe fn quants(p: *const u8) -> (int8x16_t, int8x16_t);

    /// A block's contribution for 4 rows, in the scalar kernel's order: the rows'
    /// integer sums `s`, scales `dw` and minimums `mw`, the token's scale `dx` and
    /// (Q8_1) scaled sum `sx`.
    ///
    /// # Safety
    /// None beyond NEON, which every aarch64 CPU has (an `unsafe fn` only because
    /// trait methods cannot enable target features).
    unsafe fn block(
        s: float32x4_t,
        dw: float32x4_t,
        mw: float32x4_t,
        dx: f32,
        sx: f32,
    ) -> float32x4_t;
}

/// The 16 bytes at `p`.
///
/// # Safety
/// 16 readable bytes at `p`.
#[inline(always)]
unsafe fn load16(p: *const u8) -> uint8x16_t {
    // SAFETY: the caller guarantees 16 readable bytes; LD1 has no alignment requirement.
    unsafe { vld1q_u8(p) }
}

/// The little-endian u16 at `p`.
///
/// # Safety
/// 2 readable bytes at `p`.
#[inline(always)]
unsafe fn u16_at(p: *const u8) -> u16 {
    // SAFETY: the caller guarantees 2 readable bytes; read_unaligned needs no alignment.
    u16::from_le(unsafe { p.cast::<u16>().read_unaligned() })
}

pub(super) struct Q4_0;
impl Format for Q4_0 {
    const WB: usize = q4_0::BLOCK_BYTES;
    const Q8_1: bool = false;
    const TIMES_16: bool = true;

    #[inline(always)]
    unsafe fn quants(p: *const u8) -> (int8x16_t, int8x16_t) {
        // Nibble n stands for n - 8; n ^ 8 is that value as a 4-bit two's complement,
        // so putting it in a byte's high half gives 16 (n - 8) in two operations.
        // SAFETY: the caller guarantees the block's 18 bytes.
        let v = veorq_u8(unsafe { load16(p.add(2)) }, vdupq_n_u8(0x88));
        let v = vreinterpretq_s8_u8(v);
        (
            vshlq_n_s8::<4>(v),
            vreinterpretq_s8_u8(vandq_u8(vreinterpretq_u8_s8(v), vdupq_n_u8(0xf0))),
        )
    }

    /// `sumi * d_w * d_x`.
    #[inline(always)]
    unsafe fn block(
        s: float32x4_t,
        dw: float32x4_t,
        _: float32x4_t,
        dx: f32,
        _: f32,
    ) -> float32x4_t {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { vmulq_n_f32(vmulq_f32(s, dw), dx) }
    }
}

pub(super) struct Q4_1;
impl Format for Q4_1 {
    const WB: usize = q4_1::BLOCK_BYTES;
    const Q8_1: bool = true;
    const MIN: bool = true;

    #[inline(always)]
    unsafe fn quants(p: *const u8) -> (int8x16_t, int8x16_t) {
        // SAFETY: the caller guarantees the block's 20 bytes.
        let (lo, hi) = unsafe { nibbles(std::slice::from_raw_parts(p.add(4), 16)) };
        (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
    }

    /// `(d_w * d_x) * sumi + m_w * s_x`.
    #[inline(always)]
    unsafe fn block(
        s: float32x4_t,
        dw: float32x4_t,
        mw: float32x4_t,
        dx: f32,
        sx: f32,
    ) -> float32x4_t {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { vaddq_f32(vmulq_f32(vmulq_n_f32(dw, dx), s), vmulq_n_f32(mw, sx)) }
    }
}

pub(super) struct Q5_0;
impl Format for Q5_0 {
    const WB: usize = q5_0::BLOCK_BYTES;
    const Q8_1: bool = false;

    #[inline(always)]
    unsafe fn quants(p: *const u8) -> (int8x16_t, int8x16_t) {
        // Byte j of the 32 takes bit j of qh: a table lookup spreads qh's bytes 0, 1
        // (elements 0..16) and 2, 3 (16..32) over 8 bytes each, a test picks each
        // byte's bit, and a quant is its nibble minus 16 where the bit is clear.
        const SPREAD: [[u8; 16]; 2] = [
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
            [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3],
        ];
        const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        // SAFETY: the caller guarantees the block's 22 bytes; the tables are 16 bytes.
        unsafe {
            let qh = u32::from_le(p.add(2).cast::<u32>().read_unaligned());
            let qh = vreinterpretq_u8_u32(vdupq_n_u32(qh));
            let (lo, hi) = nibbles(std::slice::from_raw_parts(p.add(6), 16));
            let q = |nib: uint8x16_t, spread: &[u8; 16]| {
                let set = vtstq_u8(
                    vqtbl1q_u8(qh, load16(spread.as_ptr())),
                    load16(BIT.as_ptr()),
                );
                vreinterpretq_s8_u8(vsubq_u8(nib, vbicq_u8(vdupq_n_u8(16), set)))
            };
            (q(lo, &SPREAD[0]), q(hi, &SPREAD[1]))
        }
    }

    /// `(d_w * d_x) * sumi`.
    #[inline(always)]
    unsafe fn block(
        s: float32x4_t,
        dw: float32x4_t,
        _: float32x4_t,
        dx: f32,
        _: f32,
    ) -> float32x4_t {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { vmulq_f32(vmulq_n_f32(dw, dx), s) }
    }
}

pub(super) struct Q8_0;
impl Format for Q8_0 {
    const WB: usize = q8_0::BLOCK_BYTES;
    const Q8_1: bool = false;

    #[inline(always)]
    unsafe fn quants(p: *const u8) -> (int8x16_t, int8x16_t) {
        // SAFETY: the caller guarantees the block's 34 bytes.
        unsafe {
            (
                vreinterpretq_s8_u8(load16(p.add(2))),
                vreinterpretq_s8_u8(load16(p.add(18))),
            )
        }
    }

    /// `sumi * (d_w * d_x)`.
    #[inline(always)]
    unsafe fn block(
        s: float32x4_t,
        dw: float32x4_t,
        _: float32x4_t,
        dx: f32,
        _: f32,
    ) -> float32x4_t {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { vmulq_f32(s, vmulq_n_f32(dw, dx)) }
    }
}

/// Bytes of an activation block for `F`.
const fn act_block<F: Format>() -> usize {
    if F::Q8_1 {
        q8_1::BLOCK_BYTES
    } else {
        q8_0::BLOCK_BYTES
    }
}

/// The f16 at byte `at` of each row's block (`rows`), as f32.
///
/// # Safety
/// 2 readable bytes at `rows[r] + at` for each row `r`.
#[inline(always)]
unsafe fn rows_f16(rows: [*const u8; 4], at: usize) -> float32x4_t {
    // SAFETY: forwarded from the caller.
    let bits = unsafe { rows.map(|p| u16_at(p.add(at)) as u64) };
    widen_f16x4(vcreate_u16(
        bits[0] | bits[1] << 16 | bits[2] << 32 | bits[3] << 48,
    ))
}

/// `T` tokens (activation rows `qb` bytes apart from `x`) against the 4 rows (`rb`
/// bytes apart from `w`) over `blocks` blocks: lane `r` of element `t` is the dot of
/// row `r` with token `t`.
///
/// # Safety
/// `blocks` whole weight blocks in each row and activation blocks in each token; the
/// CPU has `D`'s features.
#[inline(always)]
unsafe fn tokens<F: Format, D: I8Dot, const T: usize>(
    w: *const u8,
    rb: usize,
    x: *const u8,
    qb: usize,
    blocks: usize,
) -> [float32x4_t; T] {
    let (xq, xb) = (if F::Q8_1 { 4 } else { 2 }, act_block::<F>());
    let mut acc = [vdupq_n_f32(0.0); T];
    // One pointer per row and one for the tokens' block, each moved a block at a time
    // (fewer address computations than indexing from the start every block).
    let mut rows = [0, 1, 2, 3].map(|r| w.wrapping_add(r * rb));
    let mut xp = x;
    for _ in 0..blocks {
        // SAFETY (this block): every pointer stays inside the rows' and tokens' blocks
        // the caller vouches for; D's features are the caller's guarantee.
        unsafe {
            let q = rows.map(|p| F::quants(p));
            let dw = rows_f16(rows, 0);
            let mw = if F::MIN { rows_f16(rows, 2) } else { dw };
            for (t, acc) in acc.iter_mut().enumerate() {
                let p = xp.add(t * qb);
                let (x0, x1) = (
                    vreinterpretq_s8_u8(load16(p.add(xq))),
                    vreinterpretq_s8_u8(load16(p.add(xq + 16))),
                );
                let zero = vdupq_n_s32(0);
                let s = q.map(|(q0, q1)| D::dot(D::dot(zero, q0, x0), q1, x1));
                let mut s = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                if F::TIMES_16 {
                    s = vshrq_n_s32::<4>(s);
                }
                // The token's scale (and Q8_1's scaled sum) from one f16 pair.
                let ds = widen_f16x4(vcreate_u16(
                    u16_at(p) as u64 | (u16_at(p.add(2)) as u64) << 16,
                ));
                let (dx, sx) = (vgetq_lane_f32::<0>(ds), vgetq_lane_f32::<1>(ds));
                *acc = vaddq_f32(*acc, F::block(vcvtq_f32_s32(s), dw, mw, dx, sx));
            }
        }
        rows = rows.map(|p| p.wrapping_add(F::WB));
        xp = xp.wrapping_add(xb);
    }
    acc
}

/// A [`crate::cpu::dispatch::TileFn`] for format `F` with the dot step `D`.
///
/// # Safety
/// The CPU has `D`'s features.
#[inline(always)]
pub(super) unsafe fn tile<F: Format, D: I8Dot>(
    w: &[u8],
    rb: usize,
    act: &[u8],
    n: usize,
    t0: usize,
    count: usize,
    out: &mut Tile,
) {
    let blocks = rb / F::WB;
    let qb = blocks * act_block::<F>();
    assert!(w.len() >= TILE_ROWS * rb && rb == blocks * F::WB);
    assert!((1..=TILE_TOKENS).contains(&count) && t0 + count <= n && act.len() >= n * qb);
    let mut done = 0;
    // Runs of 8, 4, 2 and 1 tokens, each with its accumulators in registers.
    while done < count {
        let x = act[(t0 + done) * qb..].as_ptr();
        let run = run_len(count - done);
        // SAFETY: the asserts above cover the 4 rows' blocks and the tokens' blocks;
        // D's features are the caller's guarantee.
        let acc: [float32x4_t; TILE_TOKENS] = unsafe {
            match run {
                8 => tokens::<F, D, 8>(w.as_ptr(), rb, x, qb, blocks),
                4 => pad(tokens::<F, D, 4>(w.as_ptr(), rb, x, qb, blocks)),
                2 => pad(tokens::<F, D, 2>(w.as_ptr(), rb, x, qb, blocks)),
                _ => pad(tokens::<F, D, 1>(w.as_ptr(), rb, x, qb, blocks)),
            }
        };
        for (t, v) in acc[..run].iter().enumerate() {
            let mut lanes = [0f32; 4];
            // SAFETY: `lanes` has room for the 4 lanes.
            unsafe { vst1q_f32(lanes.as_mut_ptr(), *v) };
            for (r, &l) in lanes.iter().enumerate() {
                out[r][done + t] = l;
            }
        }
        done += run;
    }
}

/// Tokens in the next run of a tile with `left` still to do: runs of 8, 4, 2 and 1
/// tokens, each compiled with its accumulators in registers.
pub(super) fn run_len(left: usize) -> usize {
    match left {
        8.. => 8,
        4..=7 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// `v` in the first lanes of a tile's worth of token vectors.
#[inline(always)]
fn pad<const T: usize>(v: [float32x4_t; T]) -> [float32x4_t; TILE_TOKENS] {
    // SAFETY: NEON is part of the aarch64 baseline.
    let mut out = [unsafe { vdupq_n_f32(0.0) }; TILE_TOKENS];
    out[..T].copy_from_slice(&v);
    out
}

/// Safe table entries running [`tile`] for each format with the dot step `$step`, each
/// compiled into a function with `$feature` so that the step inlines into its loop.
macro_rules! tile_entries {
    ($feature:literal, $step:ty; $($entry:ident => $format:ident;)*) => {$(
        pub(super) fn $entry(
            w: &[u8],
            rb: usize,
            act: &[u8],
            n: usize,
            t0: usize,
            tokens: usize,
            out: &mut crate::cpu::dispatch::Tile,
        ) {
            #[target_feature(enable = $feature)]
            fn run(
                w: &[u8],
                rb: usize,
                act: &[u8],
                n: usize,
                t0: usize,
                tokens: usize,
                out: &mut crate::cpu::dispatch::Tile,
            ) {
                // SAFETY: this fn requires the one feature the dot step needs.
                unsafe {
                    super::tiles::tile::<super::tiles::$format, $step>(w, rb, act, n, t0, tokens, out)
                }
            }
            // SAFETY: `aarch64::upgrade` installs these only where the CPU has the
            // feature (NEON: every aarch64 CPU).
            unsafe { run(w, rb, act, n, t0, tokens, out) }
        }
    )*};
}
pub(super) use tile_entries;
