//! The per-group scale searches of ggml's K-quant reference quantizers
//! (`make_qx_quants`, `make_q3_quants`, `make_qkx2_quants` in ggml-quants.c), only in
//! the variants the `quantize_row_q*_K_ref` paths use.
//!
//! Bit-exactness with ggml hangs on doing the same f32 operations in the same order:
//! every sum is accumulated left to right, products associate as ggml writes them
//! (`w*x*l` is `(w*x)*l`), Rust never fuses a multiply-add, and rounding goes through
//! [`nearest_int`] (ggml's magic-number trick, also for out-of-range values).

pub(crate) use super::q8_k::nearest_int;

/// A group whose largest magnitude is below this counts as all zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// (largest magnitude, the signed value that has it); the first wins ties.
#[inline]
fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL)`: symmetric quants in
/// `-nmax..nmax`, written to `q` offset by `nmax`, choosing among 19 trial scales the one
/// that minimises the x²-weighted squared error; returns the scale.
pub(crate) fn qx_quants(x: &[f32], nmax: i32, q: &mut [u8]) -> f32 {
    let (amax, max) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        q.fill(0);
        return 0.0;
    }
    let quant = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (qi, &v) in q.iter_mut().zip(x) {
        let l = quant(iscale, v);
        *qi = (l + nmax) as u8;
        let (w, l) = (v * v, l as f32);
        sumlx += w * v * l;
        suml2 += w * l * l;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let (w, l) = (v * v, quant(iscale, v) as f32);
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (qi, &v) in q.iter_mut().zip(x) {
                *qi = (quant(iscale, v) + nmax) as u8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_q3_quants(n, nmax, x, L, do_rmse = true)`: symmetric quants as above, then up
/// to five passes that move single quants while that lowers the x²-weighted error;
/// writes quants offset by `nmax` and returns the least-squares scale.
pub(crate) fn q3_quants(x: &[f32], nmax: i32, q: &mut [i8]) -> f32 {
    let (amax, max) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        q.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (qi, &v) in q.iter_mut().zip(x) {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *qi = l as i8;
        let (w, l) = (v * v, l as f32);
        sumlx += w * v * l;
        suml2 += w * l * l;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (qi, &v) in q.iter_mut().zip(x) {
            let (w, old) = (v * v, *qi as f32);
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *qi as i32 {
                    let nl = new_l as f32;
                    slx += w * v * nl;
                    sl2 += w * nl * nl;
                    // Keep the move when slx²/sl2 (the explained energy) grows.
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *qi = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for qi in q.iter_mut() {
        *qi += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// The search grid of [`qkx2_quants`]: trial inverse scales `(nmax + rmin + rdelta*i) /
/// (max - min)` for `i` in `0..=nstep`; `use_mad` weighs absolute instead of squared
/// errors.
#[derive(Clone, Copy)]
pub(crate) struct Qkx2Grid {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
}

/// `make_qkx2_quants`: asymmetric quants in `0..=nmax` with a scale and a (negated,
/// so non-negative) minimum, fitted by weighted least squares at each trial scale of
/// `grid`, keeping the trial with the least weighted error. Returns `(scale, min)` with
/// `x ≈ scale * q - min`.
pub(crate) fn qkx2_quants(
    x: &[f32],
    weights: &[f32],
    nmax: i32,
    grid: Qkx2Grid,
    q: &mut [u8],
) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&v, &w) in x.iter().zip(weights).skip(1) {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
        sum_w += w;
        sum_x += w * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        q.fill(0);
        return (0.0, -min);
    }
    let err = |diff: f32| {
        if grid.use_mad {
            diff.abs()
        } else {
            diff * diff
        }
    };
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for ((qi, &v), &w) in q.iter_mut().zip(x).zip(weights) {
        let l = nearest_int(iscale * (v - min)).clamp(0, nmax);
        *qi = l as u8;
        best_error += w * err(scale * l as f32 + min - v);
    }
    if grid.nstep < 1 {
        return (scale, -min);
    }
    let mut aux = [0u8; 32];
    let aux = &mut aux[..n];
    for is in 0..=grid.nstep {
        let iscale = (grid.rmin + grid.rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for ((a, &v), &w) in aux.iter_mut().zip(x).zip(weights) {
            let l = nearest_int(iscale * (v - min)).clamp(0, nmax);
            *a = l as u8;
            let l = l as f32;
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for ((&a, &v), &w) in aux.iter().zip(x).zip(weights) {
                cur_error += w * err(this_scale * a as f32 + this_min - v);
            }
            if cur_error < best_error {
                q.copy_from_slice(aux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}
