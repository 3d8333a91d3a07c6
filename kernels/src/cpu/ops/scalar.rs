//! Scalar element-wise ops: the definitions every SIMD version is tested against.
//!
//! Sums run in f64 as ggml's do, so results track llama.cpp's closely.

use half::f16;

use super::{RopeAngles, RopeStyle};
use crate::cpu::dispatch::{Ops, SCORE_LANES};

/// The scalar table, the one every CPU starts from.
pub(crate) fn ops() -> Ops {
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
        dequant_q8_0: super::kv_quant::dequant_q8_0,
        dequant_q4_0: super::kv_quant::dequant_q4_0,
    }
}

/// `x[i] = e^x[i]` (libm's `expf`).
pub fn exp(x: &mut [f32]) {
    for v in x {
        *v = v.exp();
    }
}

/// `out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert_eq!(x.len(), weight.len());
    assert_eq!(x.len(), out.len());
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Rotates the first `n_rot` dimensions of every head in `x` (heads of `head_dim`).
pub fn rope(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
    let half = angles.cos.len();
    assert!(2 * half <= head_dim && x.len().is_multiple_of(head_dim));
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                RopeStyle::Neox => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            let (c, s) = (angles.cos[i], angles.sin[i]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

/// SwiGLU: `gate[i] = silu(gate[i]) * up[i]`.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len());
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `acc[i] += x[i]`.
pub fn add_assign(acc: &mut [f32], x: &[f32]) {
    assert_eq!(acc.len(), x.len());
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}

/// `acc[l] += tile[d * SCORE_LANES + l] * q[d]` for `d` in order: each lane is one
/// sequential f32 dot product (no FMA), whatever the lane count of the machine.
pub fn lane_dots(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]) {
    let hd = tile.len() / SCORE_LANES;
    assert!(q.len() >= acc.len() * hd);
    for (acc, q) in acc.iter_mut().zip(q.chunks_exact(hd)) {
        for (t, &qd) in tile.chunks_exact(SCORE_LANES).zip(q) {
            for (a, &k) in acc.iter_mut().zip(t) {
                *a += k * qd;
            }
        }
    }
}

/// `y_i[j] += a[i * stride] * x[j]` for each row `y_i` of `y` (a multiply then an
/// add, no FMA).
pub fn axpy(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]) {
    for (i, y) in axpy_rows(y, a, stride, x) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += a[i * stride] * v;
        }
    }
}

/// The rows of `y` for [`axpy`], numbered, after checking every coefficient exists.
pub(crate) fn axpy_rows<'a>(
    y: &'a mut [f32],
    a: &[f32],
    stride: usize,
    x: &[f32],
) -> impl Iterator<Item = (usize, &'a mut [f32])> {
    let rows = if x.is_empty() { 0 } else { y.len() / x.len() };
    assert!(rows * x.len() == y.len(), "axpy: y is not whole rows");
    assert!(
        rows == 0 || (rows - 1) * stride < a.len(),
        "axpy: coefficients"
    );
    y.chunks_exact_mut(x.len().max(1)).enumerate()
}

/// Transposes `m <= SCORE_LANES` rows (`stride` apart from the start of `src`) of
/// `hd = tile.len() / SCORE_LANES` f16 values: `tile[d * SCORE_LANES + l]` is element
/// `d` of row `l`, 0 for `l >= m`.
pub fn key_tile_f16(src: &[u16], stride: usize, m: usize, tile: &mut [f32]) {
    key_tile(src, stride, m, tile, |b| f16::from_bits(b).to_f32())
}

/// [`key_tile_f16`] for f32 rows.
pub fn key_tile_f32(src: &[f32], stride: usize, m: usize, tile: &mut [f32]) {
    key_tile(src, stride, m, tile, |v| v)
}

fn key_tile<T: Copy>(src: &[T], stride: usize, m: usize, tile: &mut [f32], f: impl Fn(T) -> f32) {
    assert!(m <= SCORE_LANES);
    let hd = tile.len() / SCORE_LANES;
    for l in 0..SCORE_LANES {
        if l < m {
            for (d, &v) in src[l * stride..][..hd].iter().enumerate() {
                tile[d * SCORE_LANES + l] = f(v);
            }
        } else {
            for d in 0..hd {
                tile[d * SCORE_LANES + l] = 0.0;
            }
        }
    }
}
