//! NEON element-wise ops: the formulas of `ops::scalar`, 4 values a step, with the
//! same rounding choices as the AVX2 versions (see `x86/avx2/ops.rs`): no FMA outside
//! `exp4`, so RMSNorm's output step, RoPE, the attention score lanes and `axpy` are
//! bit-identical to scalar; padded tails through `exp4`; f64 lanes for the sums. The
//! key tiles are transposes (f16 widened exactly by FCVTL), so bit-identical too.
//!
//! NEON is part of the aarch64 baseline, so the safe entries need no run-time check.

use std::arch::aarch64::*;

use super::neon::{widen_f16x4, widen_high_f16x4};
use crate::cpu::dispatch::{Ops, SCORE_LANES};
use crate::cpu::ops::{scalar, RopeAngles, RopeStyle, EXP_TAYLOR};

/// 4 f32 from the start of `s`.
#[inline]
#[target_feature(enable = "neon")]
fn load(s: &[f32]) -> float32x4_t {
    assert!(s.len() >= 4);
    // SAFETY: 4 readable f32 checked above; LD1 has no alignment requirement.
    unsafe { vld1q_f32(s.as_ptr()) }
}

/// Stores 4 f32 at the start of `s`.
#[inline]
#[target_feature(enable = "neon")]
fn store(s: &mut [f32], v: float32x4_t) {
    assert!(s.len() >= 4);
    // SAFETY: 4 writable f32 checked above; ST1 has no alignment requirement.
    unsafe { vst1q_f32(s.as_mut_ptr(), v) }
}

/// `s.len() <= 4` values of `s` in the low lanes, `fill` in the rest.
#[inline]
#[target_feature(enable = "neon")]
fn load_partial(s: &[f32], fill: f32) -> float32x4_t {
    let mut buf = [fill; 4];
    buf[..s.len()].copy_from_slice(s);
    load(&buf)
}

/// Stores the low `s.len() <= 4` lanes of `v` into `s`.
#[inline]
#[target_feature(enable = "neon")]
fn store_partial(s: &mut [f32], v: float32x4_t) {
    let mut buf = [0f32; 4];
    store(&mut buf, v);
    let n = s.len();
    s.copy_from_slice(&buf[..n]);
}

/// `acc + v`, the 4 f32 lanes widened to f64 (two 2-lane accumulators).
#[inline]
#[target_feature(enable = "neon")]
fn add_wide(acc: [float64x2_t; 2], v: float32x4_t) -> [float64x2_t; 2] {
    [
        vaddq_f64(acc[0], vcvt_f64_f32(vget_low_f32(v))),
        vaddq_f64(acc[1], vcvt_high_f64_f32(v)),
    ]
}

/// `e^x` of 2 f64 lanes holding f32 inputs already clamped to [-104, 89], as the AVX2
/// `exp4_pd`: `x = n ln2 + r`, a polynomial for `e^r`, then `2^n`.
#[inline]
#[target_feature(enable = "neon")]
fn exp2_f64(x: float64x2_t) -> float64x2_t {
    let n = vrndnq_f64(vmulq_f64(x, vdupq_n_f64(std::f64::consts::LOG2_E)));
    let r = vfmsq_f64(x, n, vdupq_n_f64(std::f64::consts::LN_2));
    let mut p = vdupq_n_f64(EXP_TAYLOR[0]);
    for &c in &EXP_TAYLOR[1..] {
        p = vfmaq_f64(vdupq_n_f64(c), p, r);
    }
    let k = vaddq_s64(vcvtq_s64_f64(n), vdupq_n_s64(1023));
    vmulq_f64(p, vreinterpretq_f64_s64(vshlq_n_s64::<52>(k)))
}

/// `e^x` per lane, computed in f64 and rounded once, as the AVX2 `exp8`: clamp to
/// [-104, 89] (FMIN/FMAX keep NaN), so -inf gives 0 and large inputs +inf.
#[inline]
#[target_feature(enable = "neon")]
fn exp4(x: float32x4_t) -> float32x4_t {
    let x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0)), vdupq_n_f32(89.0));
    let lo = exp2_f64(vcvt_f64_f32(vget_low_f32(x)));
    let hi = exp2_f64(vcvt_high_f64_f32(x));
    vcvt_high_f32_f64(vcvt_f32_f64(lo), hi)
}

#[target_feature(enable = "neon")]
fn exp(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        store(c, exp4(load(c)));
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        store_partial(tail, exp4(load_partial(tail, 0.0)));
    }
}

#[target_feature(enable = "neon")]
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert!(weight.len() == x.len() && out.len() == x.len());
    let mut acc = [vdupq_n_f64(0.0); 2];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        let v = load(c);
        acc = add_wide(acc, vmulq_f32(v, v));
    }
    let mut sum = vaddvq_f64(vaddq_f64(acc[0], acc[1]));
    for &v in chunks.remainder() {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    let vscale = vdupq_n_f32(scale);
    let n4 = x.len() / 4 * 4;
    for i in (0..n4).step_by(4) {
        let o = vmulq_f32(vmulq_f32(load(&x[i..]), vscale), load(&weight[i..]));
        store(&mut out[i..], o);
    }
    for i in n4..x.len() {
        out[i] = x[i] * scale * weight[i];
    }
}

#[target_feature(enable = "neon")]
fn softmax(x: &mut [f32]) {
    // FMAXNM ignores NaN like `f32::max` in the scalar fold.
    let mut vmax = vdupq_n_f32(f32::NEG_INFINITY);
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        vmax = vmaxnmq_f32(vmax, load(c));
    }
    let max = chunks
        .remainder()
        .iter()
        .copied()
        .fold(vmaxnmvq_f32(vmax), f32::max);

    let vmax = vdupq_n_f32(max);
    let mut acc = [vdupq_n_f64(0.0); 2];
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        let e = exp4(vsubq_f32(load(c), vmax));
        store(c, e);
        acc = add_wide(acc, e);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        // Padding lanes are -inf: e^-inf = 0 adds nothing to the sum.
        let e = exp4(vsubq_f32(load_partial(tail, f32::NEG_INFINITY), vmax));
        store_partial(tail, e);
        acc = add_wide(acc, e);
    }
    let sum = vaddvq_f64(vaddq_f64(acc[0], acc[1]));
    let inv = (1.0 / sum) as f32;
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        store(c, vmulq_n_f32(load(c), inv));
    }
    for v in chunks.into_remainder() {
        *v *= inv;
    }
}

#[target_feature(enable = "neon")]
fn rope(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
    let half = angles.cos.len();
    assert!(2 * half <= head_dim && angles.sin.len() == half && head_dim > 0);
    let (cos, sin) = (&angles.cos[..], &angles.sin[..]);
    for head in x.chunks_exact_mut(head_dim) {
        let mut i = 0;
        match style {
            RopeStyle::Interleaved => {
                // LD2 splits 4 pairs into their first and second elements.
                while i + 4 <= half {
                    let (c, s) = (load(&cos[i..]), load(&sin[i..]));
                    let pairs = &mut head[2 * i..2 * i + 8];
                    // SAFETY: `pairs` holds exactly the 8 f32 LD2/ST2 touch.
                    let v = unsafe { vld2q_f32(pairs.as_ptr()) };
                    let o = float32x4x2_t(
                        vsubq_f32(vmulq_f32(v.0, c), vmulq_f32(v.1, s)),
                        vaddq_f32(vmulq_f32(v.0, s), vmulq_f32(v.1, c)),
                    );
                    // SAFETY: as above.
                    unsafe { vst2q_f32(pairs.as_mut_ptr(), o) };
                    i += 4;
                }
                for i in i..half {
                    let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                    head[2 * i] = x0 * cos[i] - x1 * sin[i];
                    head[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
                }
            }
            RopeStyle::Neox => {
                let (a, b) = head.split_at_mut(half);
                while i + 4 <= half {
                    let (x0, x1) = (load(&a[i..]), load(&b[i..]));
                    let (c, s) = (load(&cos[i..]), load(&sin[i..]));
                    store(&mut a[i..], vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, s)));
                    store(&mut b[i..], vaddq_f32(vmulq_f32(x0, s), vmulq_f32(x1, c)));
                    i += 4;
                }
                for i in i..half {
                    let (x0, x1) = (a[i], b[i]);
                    a[i] = x0 * cos[i] - x1 * sin[i];
                    b[i] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}

/// `g / (1 + e^-g) * u`, with the rounding steps of the scalar formula.
#[inline]
#[target_feature(enable = "neon")]
fn swiglu4(g: float32x4_t, u: float32x4_t) -> float32x4_t {
    let e = exp4(vnegq_f32(g));
    vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0), e)), u)
}

#[target_feature(enable = "neon")]
fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len());
    let mut g = gate.chunks_exact_mut(4);
    let mut u = up.chunks_exact(4);
    for (gc, uc) in (&mut g).zip(&mut u) {
        store(gc, swiglu4(load(gc), load(uc)));
    }
    let (gt, ut) = (g.into_remainder(), u.remainder());
    if !gt.is_empty() {
        let o = swiglu4(load_partial(gt, 0.0), load_partial(ut, 0.0));
        store_partial(gt, o);
    }
}

#[target_feature(enable = "neon")]
fn lane_dots(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]) {
    const { assert!(SCORE_LANES == 8) };
    let hd = tile.len() / SCORE_LANES;
    assert!(q.len() >= acc.len() * hd);
    for (acc, q) in acc.iter_mut().zip(q.chunks_exact(hd)) {
        let (mut lo, mut hi) = (load(&acc[..4]), load(&acc[4..]));
        for (t, &qd) in tile.chunks_exact(8).zip(q) {
            lo = vaddq_f32(lo, vmulq_n_f32(load(t), qd));
            hi = vaddq_f32(hi, vmulq_n_f32(load(&t[4..]), qd));
        }
        store(&mut acc[..4], lo);
        store(&mut acc[4..], hi);
    }
}

#[target_feature(enable = "neon")]
fn axpy(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]) {
    for (i, y) in scalar::axpy_rows(y, a, stride, x) {
        let a = a[i * stride];
        let mut yc = y.chunks_exact_mut(4);
        let mut xc = x.chunks_exact(4);
        for (yv, xv) in (&mut yc).zip(&mut xc) {
            store(yv, vaddq_f32(load(yv), vmulq_n_f32(load(xv), a)));
        }
        for (o, &v) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
            *o += a * v;
        }
    }
}

/// Transposes 4 rows of 4 values: element `j` of the result holds element `j` of
/// each row, in row order.
#[inline]
#[target_feature(enable = "neon")]
fn transpose4(r: [float32x4_t; 4]) -> [float32x4_t; 4] {
    // t0 = a0 b0 a2 b2, t1 = a1 b1 a3 b3 (rows a, b); t2, t3 the same for rows c, d.
    let (t0, t1) = (vtrn1q_f32(r[0], r[1]), vtrn2q_f32(r[0], r[1]));
    let (t2, t3) = (vtrn1q_f32(r[2], r[3]), vtrn2q_f32(r[2], r[3]));
    let pairs = |a: float32x4_t, b: float32x4_t| {
        let (a, b) = (vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b));
        (
            vreinterpretq_f32_f64(vtrn1q_f64(a, b)),
            vreinterpretq_f32_f64(vtrn2q_f64(a, b)),
        )
    };
    let ((c0, c2), (c1, c3)) = (pairs(t0, t2), pairs(t1, t3));
    [c0, c1, c2, c3]
}

/// Transposes 4 rows of 8 values in pairs of columns: element `j` of the result
/// holds element `j` of each row in its low half, element `j + 4` in its high half.
#[inline]
#[target_feature(enable = "neon")]
fn transpose4x8(r: [uint16x8_t; 4]) -> [uint16x8_t; 4] {
    // t0 = a0 b0 a2 b2 a4 b4 a6 b6, t1 = a1 b1 a3 b3 ... (rows a, b); t2, t3: c, d.
    let (t0, t1) = (vtrn1q_u16(r[0], r[1]), vtrn2q_u16(r[0], r[1]));
    let (t2, t3) = (vtrn1q_u16(r[2], r[3]), vtrn2q_u16(r[2], r[3]));
    let pairs = |a: uint16x8_t, b: uint16x8_t| {
        let (a, b) = (vreinterpretq_u32_u16(a), vreinterpretq_u32_u16(b));
        (
            vreinterpretq_u16_u32(vtrn1q_u32(a, b)),
            vreinterpretq_u16_u32(vtrn2q_u32(a, b)),
        )
    };
    let ((c0, c2), (c1, c3)) = (pairs(t0, t2), pairs(t1, t3));
    [c0, c1, c2, c3]
}

/// The dimensions `0..W * (tile.len() / 8W)` of the transposed key tile (see
/// `scalar::key_tile_f16`), `W` a step: `block` gets elements `d..d + W` of each row
/// (zeros for rows with `!live(l)`) and writes the tile's `8W` values for them.
///
/// # Safety
/// `src` must hold elements `0..tile.len() / 8` of every live row `l` (from
/// `l * stride`).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn key_columns<T: Copy + Default, const W: usize>(
    src: &[T],
    stride: usize,
    tile: &mut [f32],
    live: impl Fn(usize) -> bool,
    block: &impl Fn([&[T; W]; SCORE_LANES], &mut [f32]),
) {
    // Zero converts to +0.0 from either type, what the scalar tile holds there.
    let zeros = [T::default(); W];
    for (g, out) in tile.chunks_exact_mut(W * SCORE_LANES).enumerate() {
        let rows = std::array::from_fn(|l| {
            if live(l) {
                // SAFETY: elements `W * g..W * (g + 1)` of a live row, which the
                // caller guarantees `src` holds; `[T; W]` has `T`'s alignment.
                unsafe { &*src.as_ptr().add(l * stride + W * g).cast() }
            } else {
                &zeros
            }
        });
        block(rows, out);
    }
}

/// The transposed key tile, `W` dimensions a step by [`key_columns`] (its row test
/// constant for the usual full tile), leftover dimensions a value at a time by `one`.
#[inline]
#[target_feature(enable = "neon")]
fn key_tile<T: Copy + Default, const W: usize>(
    src: &[T],
    stride: usize,
    m: usize,
    tile: &mut [f32],
    block: impl Fn([&[T; W]; SCORE_LANES], &mut [f32]),
    one: impl Fn(T) -> f32,
) {
    const { assert!(SCORE_LANES == 8) };
    let hd = tile.len() / SCORE_LANES;
    let tile = &mut tile[..hd * SCORE_LANES];
    assert!(m <= SCORE_LANES);
    if m == 0 {
        tile.fill(0.0);
        return;
    }
    // Checked: a wrapped bound would let the unchecked row views stray.
    let need = (m - 1).checked_mul(stride).and_then(|n| n.checked_add(hd));
    assert!(need.is_some_and(|n| src.len() >= n), "key_tile: rows");
    let whole = hd / W * W;
    let (body, tail) = tile.split_at_mut(whole * SCORE_LANES);
    // SAFETY: rows `0..m` are live and `src` holds `hd` elements of each (checked
    // above); `body` covers `whole <= hd` dimensions.
    unsafe {
        if m == SCORE_LANES {
            key_columns(src, stride, body, |_| true, &block);
        } else {
            key_columns(src, stride, body, |l| l < m, &block);
        }
    }
    for (d, out) in (whole..hd).zip(tail.chunks_exact_mut(SCORE_LANES)) {
        for (l, o) in out.iter_mut().enumerate() {
            *o = if l < m { one(src[l * stride + d]) } else { 0.0 };
        }
    }
}

/// 8 dimensions a step: the 8x8 block of f16 transposed as bits, each column then
/// widened straight into its tile row.
#[target_feature(enable = "neon")]
fn key_tile_f16(src: &[u16], stride: usize, m: usize, tile: &mut [f32]) {
    let block = |rows: [&[u16; 8]; 8], out: &mut [f32]| {
        // SAFETY: 8 readable u16; LD1 has no alignment requirement.
        let r = rows.map(|s| unsafe { vld1q_u16(s.as_ptr()) });
        let lo = transpose4x8([r[0], r[1], r[2], r[3]]);
        let hi = transpose4x8([r[4], r[5], r[6], r[7]]);
        for (j, (lo, hi)) in lo.into_iter().zip(hi).enumerate() {
            store(&mut out[8 * j..], widen_f16x4(vget_low_u16(lo)));
            store(&mut out[8 * j + 4..], widen_f16x4(vget_low_u16(hi)));
            store(&mut out[8 * j + 32..], widen_high_f16x4(lo));
            store(&mut out[8 * j + 36..], widen_high_f16x4(hi));
        }
    };
    let one = |b: u16| vgetq_lane_f32::<0>(widen_f16x4(vdup_n_u16(b)));
    key_tile(src, stride, m, tile, block, one)
}

/// 4 dimensions a step, two 4x4 transposes.
#[target_feature(enable = "neon")]
fn key_tile_f32(src: &[f32], stride: usize, m: usize, tile: &mut [f32]) {
    let block = |rows: [&[f32; 4]; 8], out: &mut [f32]| {
        let r = rows.map(|s| load(s));
        let lo = transpose4([r[0], r[1], r[2], r[3]]);
        let hi = transpose4([r[4], r[5], r[6], r[7]]);
        for (j, (lo, hi)) in lo.into_iter().zip(hi).enumerate() {
            store(&mut out[8 * j..], lo);
            store(&mut out[8 * j + 4..], hi);
        }
    };
    key_tile(src, stride, m, tile, block, |v| v)
}

/// The NEON element-wise ops table.
pub(crate) fn table() -> Ops {
    fn exp_entry(x: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { exp(x) }
    }
    fn rms_norm_entry(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { rms_norm(x, weight, eps, out) }
    }
    fn softmax_entry(x: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { softmax(x) }
    }
    fn rope_entry(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { rope(x, head_dim, angles, style) }
    }
    fn swiglu_entry(gate: &mut [f32], up: &[f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { swiglu(gate, up) }
    }
    fn lane_dots_entry(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { lane_dots(tile, q, acc) }
    }
    fn axpy_entry(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { axpy(y, a, stride, x) }
    }
    fn key_tile_f16_entry(src: &[u16], stride: usize, m: usize, tile: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { key_tile_f16(src, stride, m, tile) }
    }
    fn key_tile_f32_entry(src: &[f32], stride: usize, m: usize, tile: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { key_tile_f32(src, stride, m, tile) }
    }
    fn dequant_q8_0_entry(row: &[u8], at: usize, out: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { super::kv_quant::dequant_q8_0(row, at, out) }
    }
    fn dequant_q4_0_entry(row: &[u8], at: usize, out: &mut [f32]) {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { super::kv_quant::dequant_q4_0(row, at, out) }
    }
    Ops {
        exp: exp_entry,
        rms_norm: rms_norm_entry,
        softmax: softmax_entry,
        rope: rope_entry,
        swiglu: swiglu_entry,
        lane_dots: lane_dots_entry,
        axpy: axpy_entry,
        key_tile_f16: key_tile_f16_entry,
        key_tile_f32: key_tile_f32_entry,
        dequant_q8_0: dequant_q8_0_entry,
        dequant_q4_0: dequant_q4_0_entry,
    }
}
