//! Element-wise CPU ops (RMSNorm, LayerNorm, softmax, RoPE, SwiGLU, GELU, GeGLU).
//!
//! [`scalar`] holds the definitions; the functions here run the fastest version this
//! CPU has (picked once, in `dispatch`: AVX2+FMA on x86_64, NEON on aarch64). The
//! SIMD versions give each element the same result wherever it sits in the slice
//! (tails go through the same vector code, padded), so batching never changes a bit.

mod gelu;
pub mod kv_quant;
mod layer_norm;
pub mod scalar;
#[cfg(test)]
pub(crate) mod tests;

pub use gelu::{geglu, gelu};
pub use layer_norm::layer_norm;

use super::dispatch::kernels;

/// Taylor coefficients `1/k!`, `k = 10..=0`, highest first: for |r| <= ln2/2 the
/// truncation error is below 2.3e-13 relative, far under half an f32 ulp (6e-8).
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_endian = "little")
    )),
    allow(dead_code)
)]
pub(crate) const EXP_TAYLOR: [f64; 11] = [
    1.0 / 3628800.0,
    1.0 / 362880.0,
    1.0 / 40320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]`.
///
/// # Panics
/// If `weight` or `out` is not as long as `x`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert_eq!(x.len(), weight.len());
    assert_eq!(x.len(), out.len());
    (kernels().ops.rms_norm)(x, weight, eps, out)
}

/// `x[i] = e^x[i]`: libm's `expf` in [`scalar::exp`]; the SIMD versions compute in
/// f64 and round once, so they are within 1 ulp and nearly always correctly rounded
/// (0 for -inf and below about -104, +inf above about 88.72).
pub fn exp(x: &mut [f32]) {
    (kernels().ops.exp)(x)
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    (kernels().ops.softmax)(x)
}

/// How RoPE pairs the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i+1)`: ggml's "normal" mode, used by `llama` GGUFs (the
    /// converter permutes q/k rows so this equals Hugging Face's rotate-half).
    Interleaved,
    /// Pairs `(i, i + n_rot/2)`: ggml's NeoX mode, used by `qwen2`.
    Neox,
}

/// Cosines and sines of one position, one entry per rotated pair.
#[derive(Clone, Debug, Default)]
pub struct RopeAngles {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl RopeAngles {
    /// Angles for position `pos`: `theta_i = pos * base^(-2i/n_rot) / factor_i`.
    /// `freq_factors` (Llama 3.1 style `rope_freqs`) divide the frequency per pair.
    pub fn new(pos: usize, n_rot: usize, freq_base: f32, freq_factors: Option<&[f32]>) -> Self {
        RopeAngles::scaled(pos, n_rot, freq_base, freq_factors, 1.0)
    }

    /// [`RopeAngles::new`] with linear position scaling (`rope.scaling.type` linear):
    /// every angle times `freq_scale` (1 / the scaling factor), as ggml's `freq_scale`.
    /// A scale of 1 gives exactly `new`'s angles.
    pub fn scaled(
        pos: usize,
        n_rot: usize,
        freq_base: f32,
        freq_factors: Option<&[f32]>,
        freq_scale: f32,
    ) -> Self {
        let half = n_rot / 2;
        let mut cos = Vec::with_capacity(half);
        let mut sin = Vec::with_capacity(half);
        for i in 0..half {
            let inv_freq = 1.0 / freq_base.powf((2 * i) as f32 / n_rot as f32);
            let factor = freq_factors.map_or(1.0, |f| f[i]);
            let theta = pos as f32 * inv_freq / factor * freq_scale;
            cos.push(theta.cos());
            sin.push(theta.sin());
        }
        RopeAngles { cos, sin }
    }
}

/// Rotates the first `n_rot` dimensions of every head in `x` (heads of `head_dim`).
///
/// # Panics
/// If `angles` rotate more than `head_dim` dimensions or `x` is not whole heads.
pub fn rope(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
    let half = angles.cos.len();
    assert!(2 * half <= head_dim && x.len().is_multiple_of(head_dim));
    assert_eq!(angles.sin.len(), half);
    (kernels().ops.rope)(x, head_dim, angles, style)
}

/// SwiGLU: `gate[i] = silu(gate[i]) * up[i]`.
///
/// # Panics
/// If `up` is not as long as `gate`.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len());
    (kernels().ops.swiglu)(gate, up)
}

/// `acc[i] += x[i]`. Scalar on every CPU: LLVM vectorizes the loop already and it is
/// memory-bound.
pub fn add_assign(acc: &mut [f32], x: &[f32]) {
    scalar::add_assign(acc, x)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn rms_norm_unit_weight_has_unit_rms() {
        let x = [1.0f32, -2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        rms_norm(&x, &[1.0; 4], 0.0, &mut out);
        let rms = (out.iter().map(|v| v * v).sum::<f32>() / 4.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut x = [1.0f32, 3.0, 2.0, -1000.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[2] && x[2] > x[0] && x[3] == 0.0);
    }

    #[test]
    fn rope_styles_rotate_pairs_by_theta() {
        // Position 1, base 1: every pair turns by exactly 1 radian.
        let angles = RopeAngles::new(1, 4, 1.0, None);
        let mut a = [1.0f32, 0.0, 1.0, 0.0];
        rope(&mut a, 4, &angles, RopeStyle::Interleaved);
        assert!((a[0] - 1f32.cos()).abs() < 1e-6 && (a[1] - 1f32.sin()).abs() < 1e-6);
        let mut b = [1.0f32, 1.0, 0.0, 0.0];
        rope(&mut b, 4, &angles, RopeStyle::Neox);
        assert!((b[0] - 1f32.cos()).abs() < 1e-6 && (b[2] - 1f32.sin()).abs() < 1e-6);
        // Position 0 is the identity.
        let id = RopeAngles::new(0, 4, 10000.0, None);
        let mut c = [0.3f32, -0.7, 0.2, 0.9];
        rope(&mut c, 4, &id, RopeStyle::Neox);
        assert_eq!(c, [0.3, -0.7, 0.2, 0.9]);
    }

    #[test]
    fn swiglu_matches_definition() {
        let mut g = [0.0f32, 1.0, -2.0];
        swiglu(&mut g, &[5.0, 2.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
        assert!((g[2] - (-2.0 / (1.0 + 2f32.exp()))).abs() < 1e-6);
    }
}
