//! Q4_K, Q5_K and Q6_K weights against Q8_K activations: ggml's per-block formulas
//! (as in `scalar/`), with the integer dot step `D`.
//!
//! Group sums are scaled in an `i32` vector and reduced once per block, and the
//! block result is added in the scalar order, so these agree with the scalar
//! kernels to the last bit.

use std::arch::aarch64::*;

use super::legacy::dot32;
use super::neon::{load_i8, load_u8, read_f16, I8Dot};
use crate::quant::q4_k::scale_min;
use crate::quant::{q4_k, q5_k, q6_k, q8_k};

/// The f32 scale of a Q8_K block.
#[inline(always)]
fn q8k_d(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The eight six-bit scales and mins of a Q4_K/Q5_K block.
#[inline(always)]
fn scales_mins(s: &[u8]) -> ([i32; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0i32; 8], [0u8; 8]);
    for g in 0..8 {
        let (a, b) = scale_min(s, g);
        sc[g] = a as i32;
        m[g] = b;
    }
    (sc, m)
}

/// `Σ_g m_g * (bsum_2g + bsum_2g+1)` of a Q8_K block `bx`: each pair of 16-value
/// sums covers one group of 32. Pair sums stay within ±4096, so `i16` holds them.
#[inline]
#[target_feature(enable = "neon")]
fn mins_dot(bx: &[u8], m: [u8; 8]) -> i32 {
    let bs = &bx[q8_k::BSUMS..];
    let b0 = vreinterpretq_s16_u8(load_u8(bs));
    let b1 = vreinterpretq_s16_u8(load_u8(&bs[16..]));
    let pairs = vpaddq_s16(b0, b1);
    let m = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(u64::from_le_bytes(m))));
    let p = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
    vaddvq_s32(vmlal_high_s16(p, pairs, m))
}

/// The Q4_K/Q5_K block sum `d*yd*sumi - dmin*yd*summ`, given the scaled group sums.
#[inline]
#[target_feature(enable = "neon")]
fn block_8x32(bw: &[u8], bx: &[u8], sumi: i32, m: [u8; 8]) -> f32 {
    let yd = q8k_d(bx);
    let summ = mins_dot(bx, m);
    read_f16(bw, 0) * yd * sumi as f32 - read_f16(bw, 2) * yd * summ as f32
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q4_k_q8_k<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let low = vdupq_n_u8(0x0f);
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q4_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let (sc, m) = scales_mins(&bw[q4_k::SCALES..q4_k::SCALES + 12]);
        let (qs, y) = (&bw[q4_k::QS..], &bx[q8_k::QS..q8_k::BSUMS]);
        let mut isum = vdupq_n_s32(0);
        // Chunk c: 32 bytes whose low nibbles are group 2c and high nibbles 2c + 1.
        for c in 0..4 {
            let (v0, v1) = (load_u8(&qs[32 * c..]), load_u8(&qs[32 * c + 16..]));
            let as_i8 = vreinterpretq_s8_u8;
            // SAFETY: the caller guarantees D's features.
            let (lo, hi) = unsafe {
                (
                    dot32!(
                        D,
                        as_i8(vandq_u8(v0, low)),
                        as_i8(vandq_u8(v1, low)),
                        &y[64 * c..]
                    ),
                    dot32!(
                        D,
                        as_i8(vshrq_n_u8::<4>(v0)),
                        as_i8(vshrq_n_u8::<4>(v1)),
                        &y[64 * c + 32..],
                    ),
                )
            };
            isum = vmlaq_n_s32(isum, lo, sc[2 * c]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * c + 1]);
        }
        sumf += block_8x32(bw, bx, vaddvq_s32(isum), m);
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q5_k_q8_k<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let (low, one) = (vdupq_n_u8(0x0f), vdupq_n_u8(1));
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q5_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let (sc, m) = scales_mins(&bw[q5_k::SCALES..q5_k::SCALES + 12]);
        let (qs, y) = (&bw[q5_k::QS..], &bx[q8_k::QS..q8_k::BSUMS]);
        // Bit g of qh[l] is the fifth bit of element l of group g: shift one bit
        // out per group.
        let (mut h0, mut h1) = (load_u8(&bw[q5_k::QH..]), load_u8(&bw[q5_k::QH + 16..]));
        let mut fifth = || {
            let bits = (
                vshlq_n_u8::<4>(vandq_u8(h0, one)),
                vshlq_n_u8::<4>(vandq_u8(h1, one)),
            );
            (h0, h1) = (vshrq_n_u8::<1>(h0), vshrq_n_u8::<1>(h1));
            bits
        };
        let mut isum = vdupq_n_s32(0);
        for c in 0..4 {
            let (v0, v1) = (load_u8(&qs[32 * c..]), load_u8(&qs[32 * c + 16..]));
            let q = |a: uint8x16_t, h: uint8x16_t| vreinterpretq_s8_u8(vorrq_u8(a, h));
            let (e0, e1) = fifth();
            let (lo0, lo1) = (q(vandq_u8(v0, low), e0), q(vandq_u8(v1, low), e1));
            let (o0, o1) = fifth();
            let (hi0, hi1) = (q(vshrq_n_u8::<4>(v0), o0), q(vshrq_n_u8::<4>(v1), o1));
            // SAFETY: the caller guarantees D's features.
            let (lo, hi) = unsafe {
                (
                    dot32!(D, lo0, lo1, &y[64 * c..]),
                    dot32!(D, hi0, hi1, &y[64 * c + 32..]),
                )
            };
            isum = vmlaq_n_s32(isum, lo, sc[2 * c]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * c + 1]);
        }
        sumf += block_8x32(bw, bx, vaddvq_s32(isum), m);
    }
    sumf
}

/// # Safety
/// The CPU must have `D`'s target features.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn q6_k_q8_k<D: I8Dot>(w: &[u8], x: &[u8]) -> f32 {
    let (low, top) = (vdupq_n_u8(0x0f), vdupq_n_u8(0x30));
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q6_k::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut isum = vdupq_n_s32(0);
        // Half h holds elements 128h..128h+128: four runs of 32 (s = 0..4) built from
        // ql[64h..64h+64] (a: first 32 bytes, b: last 32; low nibbles for s = 0, 1,
        // high for 2, 3) and bits 2s..2s+2 of qh[32h..32h+32]. Each run of 32 is two
        // groups of 16 (i = 0, 1) with their own scale.
        for h in 0..2 {
            let ql = &bw[q6_k::QL + 64 * h..];
            let qh = &bw[q6_k::QH + 32 * h..];
            let scales = &bw[q6_k::SCALES + 8 * h..q6_k::SCALES + 8 * h + 8];
            for i in 0..2 {
                let a = load_u8(&ql[16 * i..]);
                let b = load_u8(&ql[32 + 16 * i..]);
                let hb = load_u8(&qh[16 * i..]);
                let runs = [
                    vorrq_u8(vandq_u8(a, low), vandq_u8(vshlq_n_u8::<4>(hb), top)),
                    vorrq_u8(vandq_u8(b, low), vandq_u8(vshlq_n_u8::<2>(hb), top)),
                    vorrq_u8(vshrq_n_u8::<4>(a), vandq_u8(hb, top)),
                    vorrq_u8(vshrq_n_u8::<4>(b), vandq_u8(vshrq_n_u8::<2>(hb), top)),
                ];
                for (s, run) in runs.into_iter().enumerate() {
                    let q = vsubq_s8(vreinterpretq_s8_u8(run), vdupq_n_s8(32));
                    let yv = load_i8(&y[128 * h + 32 * s + 16 * i..]);
                    // SAFETY: the caller guarantees D's features.
                    let p = unsafe { D::dot(vdupq_n_s32(0), q, yv) };
                    isum = vmlaq_n_s32(isum, p, scales[2 * s + i] as i8 as i32);
                }
            }
        }
        sumf += read_f16(bw, q6_k::D) * q8k_d(bx) * vaddvq_s32(isum) as f32;
    }
    sumf
}
