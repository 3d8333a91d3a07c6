//! SDOT kernels for weights interleaved four rows at a time (`cpu::interleave`), for
//! Q4_0, Q4_1, Q5_0 and Q8_0.
//!
//! Per block of a group, one load brings the 4 rows' scales and four more their
//! quants; SDOT by lane multiplies 4 bytes of each row with the same 4 activation
//! bytes, so each row's integer sum builds up in its own lane, with no pairwise
//! folding. A call covers all the groups of a chunk of rows.
//!
//! The activations are read in the prepared layout (`cpu::prepared`): a run of
//! tokens' quants back to back, then their scales (and Q8_1 sums) as f32.
//!
//! Integer sums are exact and the f32 work is the tiles' per-format formula
//! ([`Format::block`]), so every output is bit-identical to the dot kernel of the
//! row in ggml's layout.

use std::arch::aarch64::*;
use std::arch::asm;

use super::neon::widen_f16x4;
use super::tiles::{run_len, Format, Q4_0, Q4_1, Q5_0, Q8_0};
use crate::cpu::interleave::GROUP;
use crate::cpu::prepared::{group, prepare};
use crate::quant::float::f16_to_f32;
use crate::quant::{q8_0, q8_1};

/// Bytes per token and block of the prepared activations for format `F`: the 32
/// quants, then the scale as f32 (converted once per product, not once per group of
/// weight rows), then for Q8_1 the scaled sum as f32.
pub(super) const fn prepared<F: Format>() -> usize {
    if F::Q8_1 {
        40
    } else {
        36
    }
}

/// The f16 at `b[at..at + 2]` as f32, little-endian bytes.
fn f16_bytes(b: &[u8], at: usize) -> [u8; 4] {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]])).to_le_bytes()
}

/// The [`crate::cpu::dispatch::PrepareFn`] of these kernels, from Q8_0 activations.
pub(super) fn prepare_q8_0(qx: &[u8], n: usize, out: &mut [u8]) {
    let bytes = prepared::<Q8_0>();
    prepare(
        qx,
        n,
        out,
        q8_0::BLOCK_BYTES,
        bytes,
        false,
        |blk, values, scale, _| {
            values.copy_from_slice(&blk[2..]);
            scale.copy_from_slice(&f16_bytes(blk, 0));
        },
    )
}

/// The [`crate::cpu::dispatch::PrepareFn`] of these kernels, from Q8_1 activations.
pub(super) fn prepare_q8_1(qx: &[u8], n: usize, out: &mut [u8]) {
    let bytes = prepared::<Q4_1>();
    prepare(
        qx,
        n,
        out,
        q8_1::BLOCK_BYTES,
        bytes,
        false,
        |blk, values, scale, sum| {
            values.copy_from_slice(&blk[4..]);
            scale.copy_from_slice(&f16_bytes(blk, 0));
            sum.copy_from_slice(&f16_bytes(blk, 2));
        },
    )
}

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

/// The 64 quant bytes at `p` as 8 vectors of nibbles (0..=15): the low ones of the 4
/// loads, then the high ones.
///
/// # Safety
/// 64 readable bytes at `p`.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> [uint8x16_t; 8] {
    // SAFETY: the caller guarantees the 64 bytes; NEON is baseline.
    unsafe {
        let v = vld1q_u8_x4(p);
        let lo = |q: uint8x16_t| vandq_u8(q, vdupq_n_u8(0x0f));
        let hi = |q: uint8x16_t| vshrq_n_u8::<4>(q);
        [
            lo(v.0),
            lo(v.1),
            lo(v.2),
            lo(v.3),
            hi(v.0),
            hi(v.1),
            hi(v.2),
            hi(v.3),
        ]
    }
}

impl Unpack for Q4_1 {
    #[inline(always)]
    unsafe fn unpack(p: *const u8) -> [int8x16_t; 8] {
        // Nibbles 0..=15 are their values; as bytes they are non-negative i8.
        // SAFETY: the caller guarantees the 64 quant bytes.
        unsafe { nibbles(p).map(|q| vreinterpretq_s8_u8(q)) }
    }
}

impl Unpack for Q5_0 {
    #[inline(always)]
    unsafe fn unpack(p: *const u8) -> [int8x16_t; 8] {
        // A quant is its nibble minus 16 where its fifth bit is clear: plane byte j
        // has bit i set for those bytes of vector i, moved to bit 4 (16) and subtracted.
        // SAFETY: the caller guarantees the 64 quant bytes and the 16 plane bytes after
        // them; NEON is baseline.
        unsafe {
            let planes = vld1q_u8(p.add(64));
            let sixteen = vdupq_n_u8(0x10);
            let bit = |b: uint8x16_t| vandq_u8(b, sixteen);
            let t = [
                bit(vshlq_n_u8::<4>(planes)),
                bit(vshlq_n_u8::<3>(planes)),
                bit(vshlq_n_u8::<2>(planes)),
                bit(vshlq_n_u8::<1>(planes)),
                bit(planes),
                bit(vshrq_n_u8::<1>(planes)),
                bit(vshrq_n_u8::<2>(planes)),
                bit(vshrq_n_u8::<3>(planes)),
            ];
            let nib = nibbles(p);
            std::array::from_fn(|i| vreinterpretq_s8_u8(vsubq_u8(nib[i], t[i])))
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

/// The 4 rows' integer sums of a block with one token's 32 quants (`x0`, `x1`).
///
/// # Safety
/// The CPU has dotprod.
#[inline(always)]
unsafe fn sums(q: &[int8x16_t; 8], x0: int8x16_t, x1: int8x16_t) -> int32x4_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        let s = sdot_lane::<0>(vdupq_n_s32(0), q[0], x0);
        let s = sdot_lane::<1>(s, q[1], x0);
        let s = sdot_lane::<2>(s, q[2], x0);
        let s = sdot_lane::<3>(s, q[3], x0);
        let s = sdot_lane::<0>(s, q[4], x1);
        let s = sdot_lane::<1>(s, q[5], x1);
        let s = sdot_lane::<2>(s, q[6], x1);
        sdot_lane::<3>(s, q[7], x1)
    }
}

/// Where a run of tokens' activations are, in the prepared layout: the first token's
/// quants of block 0 at `x`, token `t`'s 32 bytes after the previous one's, its f32
/// scale `scales + 4t` bytes from its block's `x` (its Q8_1 sum `sums + 4t`), blocks
/// `block` bytes apart.
#[derive(Clone, Copy)]
struct Act {
    x: *const u8,
    scales: usize,
    sums: usize,
    block: usize,
}

/// `T` tokens (`a`) against `groups` groups from `w` (`blocks` blocks a row), `G`
/// groups at a time (one token's activations serve them all), into
/// `out[t * stride + 4g + r]`.
///
/// # Safety
/// Whole groups (a multiple of `G`) and activation blocks as stated, `out` has room,
/// the CPU has dotprod.
#[inline(always)]
unsafe fn run_tokens<F: Unpack, const T: usize, const G: usize>(
    w: *const u8,
    groups: usize,
    blocks: usize,
    a: Act,
    out: *mut f32,
    stride: usize,
) {
    const { assert!(matches!(T, 1 | 2 | 4 | 8)) };
    let gb = GROUP * F::WB;
    for g in (0..groups).step_by(G) {
        let mut acc = [[vdupq_n_f32(0.0); G]; T];
        let mut p: [*const u8; G] = std::array::from_fn(|i| w.wrapping_add((g + i) * blocks * gb));
        let mut xp = a.x;
        for _ in 0..blocks {
            // SAFETY (this block): `p` walks the groups' blocks and `xp` the tokens'
            // blocks, both whole as the caller vouches; dotprod is the caller's.
            unsafe {
                // Group i's scales and quants: unpacked where used for one token (so
                // that G groups' quants need not all be in registers), once for all
                // tokens otherwise. (Macros, not closures: a closure would not be
                // compiled with dotprod.)
                // The block's f16 fields (4 rows each) follow its quants.
                let head = if F::MIN { 4 * GROUP } else { 2 * GROUP };
                macro_rules! unpack {
                    ($i:expr) => {{
                        let dw = widen_f16x4(vld1_u16(p[$i].add(gb - head).cast()));
                        let mw = if F::MIN {
                            widen_f16x4(vld1_u16(p[$i].add(gb - head + 2 * GROUP).cast()))
                        } else {
                            dw
                        };
                        (dw, mw, F::unpack(p[$i]))
                    }};
                }
                let unpacked: [_; G] = std::array::from_fn(|i| (T > 1).then(|| unpack!(i)));
                // The tokens' scales (and sums), 4 to a load where there are 4.
                let (sp, up) = (xp.add(a.scales).cast::<f32>(), xp.add(a.sums).cast::<f32>());
                let fours = |p: *const f32| -> [float32x4_t; 2] {
                    std::array::from_fn(|j| {
                        if T >= 4 * (j + 1) {
                            vld1q_f32(p.add(4 * j))
                        } else {
                            vdupq_n_f32(0.0)
                        }
                    })
                };
                let scales = fours(sp);
                let sums_x = if F::Q8_1 { fours(up) } else { scales };
                macro_rules! token {
                    ($t:expr) => {{
                        let xt = xp.add(32 * $t);
                        let (dx, sx) = if T >= 4 {
                            (
                                vgetq_lane_f32::<{ $t % 4 }>(scales[$t / 4]),
                                vgetq_lane_f32::<{ $t % 4 }>(sums_x[$t / 4]),
                            )
                        } else if F::Q8_1 {
                            (sp.add($t).read_unaligned(), up.add($t).read_unaligned())
                        } else {
                            (sp.add($t).read_unaligned(), 0.0)
                        };
                        let (x0, x1) = (vld1q_s8(xt.cast()), vld1q_s8(xt.add(16).cast()));
                        for (i, u) in unpacked.iter().enumerate() {
                            let (dw, mw, q) = match u {
                                Some(u) => *u,
                                None => unpack!(i),
                            };
                            let s = sums(&q, x0, x1);
                            // Q4_0's sums are 16 times the true ones: converted with 4
                            // fraction bits, they come out exact.
                            let s = if F::TIMES_16 {
                                vcvtq_n_f32_s32::<4>(s)
                            } else {
                                vcvtq_f32_s32(s)
                            };
                            acc[$t][i] = vaddq_f32(acc[$t][i], F::block(s, dw, mw, dx, sx));
                        }
                    }};
                }
                // Written out: LLVM leaves a loop of 8 tokens rolled, with its
                // accumulators in memory.
                token!(0);
                if T > 1 {
                    token!(1);
                }
                if T > 2 {
                    token!(2);
                    token!(3);
                }
                if T > 4 {
                    token!(4);
                    token!(5);
                    token!(6);
                    token!(7);
                }
                p = p.map(|p| p.add(gb));
            }
            xp = xp.wrapping_add(a.block);
        }
        for (t, acc) in acc.iter().enumerate() {
            for (i, acc) in acc.iter().enumerate() {
                // SAFETY: the caller guarantees `out` covers every token's groups.
                unsafe { vst1q_f32(out.add(t * stride + GROUP * (g + i)), *acc) };
            }
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
    let groups = w.len() / (GROUP * rb);
    let stride = GROUP * groups;
    assert!(rb == blocks * F::WB && w.len() == groups * GROUP * rb);
    assert!(out.len() >= count * stride && t0 + count <= n);
    let bytes = prepared::<F>();
    let (start, m) = group(n, t0, blocks, bytes);
    assert!((1..=m).contains(&count) && act.len() >= start + blocks * m * bytes);
    let mut done = 0;
    // Runs of 8, 4, 2 and 1 tokens, each with its accumulators in registers.
    while done < count {
        let scales = 32 * (m - done) + 4 * done;
        let a = Act {
            x: act[start + 32 * done..].as_ptr(),
            scales,
            sums: scales + 4 * m,
            block: m * bytes,
        };
        let o = out[done * stride..].as_mut_ptr();
        let w = w.as_ptr();
        let run = run_len(count - done);
        // SAFETY: the asserts above cover the groups, the tokens' blocks and the
        // outputs; dotprod is the caller's guarantee.
        unsafe {
            match run {
                8 => run_tokens::<F, 8, 1>(w, groups, blocks, a, o, stride),
                4 => run_tokens::<F, 4, 1>(w, groups, blocks, a, o, stride),
                2 => run_tokens::<F, 2, 1>(w, groups, blocks, a, o, stride),
                _ => {
                    // One token: 4 groups at a time share its loads, then the rest.
                    let g4 = groups / 4 * 4;
                    run_tokens::<F, 1, 4>(w, g4, blocks, a, o, stride);
                    let (w, o) = (w.add(g4 * GROUP * rb), o.add(g4 * GROUP));
                    run_tokens::<F, 1, 1>(w, groups - g4, blocks, a, o, stride);
                }
            }
        }
        done += run;
    }
}
