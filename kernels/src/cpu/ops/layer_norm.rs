//! LayerNorm with a bias (GPT-2): `out = (x - mean) / sqrt(var + eps) * weight + bias`.
//! Sums in f64 as `rms_norm` does; a norm is one pass over a row per layer, so plain
//! loops suffice (no SIMD twin needed: LLVM vectorizes the element-wise parts).

/// `out[i] = (x[i] - mean(x)) / sqrt(var(x) + eps) * weight[i] + bias[i]`, with the
/// population variance.
///
/// # Panics
/// If `weight`, `bias` or `out` is not as long as `x`.
pub fn layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, out: &mut [f32]) {
    let n = x.len();
    assert!(
        weight.len() == n && bias.len() == n && out.len() == n,
        "layer_norm: lengths"
    );
    if n == 0 {
        return;
    }
    let mean = (x.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
    let var = x
        .iter()
        .map(|&v| ((v - mean) * (v - mean)) as f64)
        .sum::<f64>()
        / n as f64;
    let scale = 1.0 / (var as f32 + eps).sqrt();
    for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(weight).zip(bias) {
        *o = (v - mean) * scale * w + b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_f64_reference() {
        let x: Vec<f32> = (0..67)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.7 + 3.0)
            .collect();
        let w: Vec<f32> = (0..67).map(|i| 0.5 + (i % 5) as f32 * 0.25).collect();
        let b: Vec<f32> = (0..67).map(|i| (i % 3) as f32 - 1.0).collect();
        let mut out = vec![0f32; 67];
        layer_norm(&x, &w, &b, 1e-5, &mut out);
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        for i in 0..x.len() {
            let want = (x[i] as f64 - mean) / (var + 1e-5).sqrt() * w[i] as f64 + b[i] as f64;
            assert!(
                (out[i] as f64 - want).abs() < 1e-5,
                "{i}: {} vs {want}",
                out[i]
            );
        }
    }
}
