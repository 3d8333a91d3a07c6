//! GELU with its tanh approximation (GPT-2's `gelu_new`, Gemma's
//! `gelu_pytorch_tanh`), and GeGLU: `gelu(gate) * up`. `0.5 (1 + tanh y) = 1 / (1 + e^(-2y))`, so GELU is
//! `x / (1 + e^(-2y))` with `y = √(2/π) (x + 0.044715 x³)`: the dispatched SIMD `exp`
//! does the costly part and the rest are plain loops LLVM vectorizes. No SIMD twin of
//! its own: the only SIMD in it is `exp`, which has its own.

use super::exp;

/// `√(2/π)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// Values converted per pass (a stack buffer for the exponentials).
const CHUNK: usize = 64;

/// `gate[i] = gelu_tanh(gate[i]) * up[i]`.
///
/// # Panics
/// If `up` is not as long as `gate`.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "geglu: gate and up lengths");
    gelu_times(gate, Some(up));
}

/// `x[i] = gelu_tanh(x[i])` (GPT-2's `gelu_new`).
pub fn gelu(x: &mut [f32]) {
    gelu_times(x, None);
}

/// GELU of `x`, times `up` where given.
fn gelu_times(x: &mut [f32], up: Option<&[f32]>) {
    let mut e = [0f32; CHUNK];
    for (c, g) in x.chunks_mut(CHUNK).enumerate() {
        let e = &mut e[..g.len()];
        for (e, &x) in e.iter_mut().zip(g.iter()) {
            *e = -2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        }
        exp(e);
        // Far below 0, e^(-2y) is infinite and x / inf is -0: GELU's limit.
        for (g, &e) in g.iter_mut().zip(e.iter()) {
            *g /= 1.0 + e;
        }
        if let Some(up) = up {
            for (g, &u) in g.iter_mut().zip(&up[c * CHUNK..]) {
                *g *= u;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GELU's tanh form in f64, as PyTorch's `gelu(approximate="tanh")` defines it.
    fn reference(x: f64) -> f64 {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
    }

    #[test]
    fn geglu_matches_the_tanh_form() {
        let n = 3 * CHUNK + 5;
        let mut gate: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.11).collect();
        gate[0] = -1e4;
        gate[1] = 1e4;
        gate[2] = 0.0;
        let up: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let want: Vec<f64> = gate
            .iter()
            .zip(&up)
            .map(|(&g, &u)| reference(g as f64) * u as f64)
            .collect();
        let mut plain = gate.clone();
        geglu(&mut gate, &up);
        gelu(&mut plain);
        for (i, (&got, &want)) in gate.iter().zip(&want).enumerate() {
            let alone = plain[i] * up[i];
            assert_eq!(
                got.to_bits(),
                alone.to_bits(),
                "element {i}: geglu vs gelu * up"
            );
            let tol = 1e-6 * want.abs().max(1.0);
            assert!(
                (got as f64 - want).abs() <= tol,
                "element {i}: {got} vs {want}"
            );
        }
    }
}
