//! Element-wise CPU ops (RMSNorm, softmax, RoPE, SwiGLU), scalar reference versions.
//!
//! Sums run in f64 as ggml's do, so results track llama.cpp's closely.

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
        let half = n_rot / 2;
        let mut cos = Vec::with_capacity(half);
        let mut sin = Vec::with_capacity(half);
        for i in 0..half {
            let inv_freq = 1.0 / freq_base.powf((2 * i) as f32 / n_rot as f32);
            let factor = freq_factors.map_or(1.0, |f| f[i]);
            let theta = pos as f32 * inv_freq / factor;
            cos.push(theta.cos());
            sin.push(theta.sin());
        }
        RopeAngles { cos, sin }
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

#[cfg(test)]
mod tests {
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
