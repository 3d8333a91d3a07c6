//! The merge arithmetic: `W += scale · L · R` for a thin product (`L` is `[rows, r]`,
//! `R` is `[r, cols]`, r small).

use rayon::prelude::*;

/// The first element whose delta was not finite, as (row, column).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NonFinite {
    pub row: usize,
    pub col: usize,
}

/// Adds `scale · left · right` to `out` (`[rows, cols]`, row-major); `left` is `[rows, r]`,
/// `right` is `[r, cols]`, both row-major.
///
/// Each element's sum over r is accumulated in f64, scaled, rounded to f32 once and then
/// added, like peft's `W + (B @ A) * scaling` but without f32 rounding inside the sum.
/// Rows run in parallel; the inner loop walks `right` and the accumulator contiguously.
/// On error `out` is partly updated.
pub(crate) fn add_scaled_product(
    out: &mut [f32],
    cols: usize,
    left: &[f32],
    right: &[f32],
    r: usize,
    scale: f64,
) -> Result<(), NonFinite> {
    debug_assert_eq!(out.len() % cols.max(1), 0);
    debug_assert_eq!(right.len(), r * cols);
    debug_assert_eq!(left.len(), (out.len() / cols.max(1)) * r);
    if cols == 0 {
        return Ok(());
    }
    let rows = out.len() / cols;
    out.par_chunks_mut(cols)
        .enumerate()
        .try_for_each_init(
            || vec![0f64; cols],
            |acc, (row, w)| {
                acc.fill(0.0);
                for (k, &l) in left[row * r..(row + 1) * r].iter().enumerate() {
                    let l = f64::from(l);
                    for (a, &x) in acc.iter_mut().zip(&right[k * cols..(k + 1) * cols]) {
                        *a += l * f64::from(x);
                    }
                }
                for (col, (w, &a)) in w.iter_mut().zip(acc.iter()).enumerate() {
                    let d = (scale * a) as f32;
                    if !d.is_finite() {
                        return Err(NonFinite { row, col });
                    }
                    *w += d;
                }
                Ok(())
            },
        )
        .map_err(|e| {
            // try_for_each_init stops at some failing row; report the first one for a stable message.
            first_non_finite(rows, cols, left, right, r, scale).unwrap_or(e)
        })
}

/// The lowest (row, col) whose scaled delta is not finite (only called on the error path).
fn first_non_finite(
    rows: usize,
    cols: usize,
    left: &[f32],
    right: &[f32],
    r: usize,
    scale: f64,
) -> Option<NonFinite> {
    for row in 0..rows {
        for col in 0..cols {
            let s: f64 = (0..r)
                .map(|k| f64::from(left[row * r + k]) * f64::from(right[k * cols + col]))
                .sum();
            if !((scale * s) as f32).is_finite() {
                return Some(NonFinite { row, col });
            }
        }
    }
    None
}

/// `m` (`[rows, cols]`, row-major) transposed to `[cols, rows]`.
pub(crate) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [-1, 1) (xorshift), no RNG crate needed.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The definition: W[o][i] + scale · Σ_k B[o][k] · A[k][i], one element at a time.
    fn naive(
        w: &[f32],
        b: &[f32],
        a: &[f32],
        out: usize,
        inp: usize,
        r: usize,
        scale: f64,
    ) -> Vec<f32> {
        let mut res = w.to_vec();
        for o in 0..out {
            for i in 0..inp {
                let mut s = 0f64;
                for k in 0..r {
                    s += f64::from(b[o * r + k]) * f64::from(a[k * inp + i]);
                }
                res[o * inp + i] += (scale * s) as f32;
            }
        }
        res
    }

    #[test]
    fn matches_the_triple_loop() {
        for &(out, inp, r) in &[(1, 1, 1), (7, 5, 3), (64, 48, 8), (3, 130, 16), (130, 2, 1)] {
            let w = values(out * inp, 1);
            let b = values(out * r, 2);
            let a = values(r * inp, 3);
            let scale = 1.7;
            let want = naive(&w, &b, &a, out, inp, r, scale);
            let mut got = w.clone();
            add_scaled_product(&mut got, inp, &b, &a, r, scale).unwrap();
            assert_eq!(got, want, "{out}x{inp} r{r}");
            assert_ne!(got, w);
        }
    }

    #[test]
    fn transposed_layout_gets_the_transposed_delta() {
        // fan_in_fan_out: W is stored [in, out]; adding A^T·B^T there must equal
        // transposing the result of the [out, in] merge.
        let (out, inp, r) = (6, 9, 4);
        let w = values(out * inp, 4);
        let b = values(out * r, 5);
        let a = values(r * inp, 6);
        let want = naive(&w, &b, &a, out, inp, r, 0.5);
        let mut wt = transpose(&w, out, inp);
        add_scaled_product(
            &mut wt,
            out,
            &transpose(&a, r, inp),
            &transpose(&b, out, r),
            r,
            0.5,
        )
        .unwrap();
        assert_eq!(transpose(&wt, inp, out), want);
    }

    #[test]
    fn accumulates_in_f64() {
        // 1e8 + 1 - 1e8 in f32 is 0; the exact delta is 1.
        let mut w = vec![0f32];
        add_scaled_product(&mut w, 1, &[1e8, 1.0, -1e8], &[1.0, 1.0, 1.0], 3, 1.0).unwrap();
        assert_eq!(w, [1.0]);
    }

    #[test]
    fn non_finite_delta_is_reported_with_its_position() {
        let mut w = vec![0f32; 6];
        let left = [1.0, 1.0, f32::INFINITY]; // rows 0..3, r = 1
        let right = [1.0, 2.0];
        let e = add_scaled_product(&mut w, 2, &left, &right, 1, 1.0).unwrap_err();
        assert_eq!(e, NonFinite { row: 2, col: 0 });
        let mut w = vec![0f32; 2];
        let e = add_scaled_product(&mut w, 2, &[3e38], &[1.0, 10.0], 1, 1.0).unwrap_err();
        assert_eq!(e, NonFinite { row: 0, col: 1 });
    }

    #[test]
    fn transpose_round_trips() {
        let m = values(12, 7);
        assert_eq!(transpose(&transpose(&m, 3, 4), 4, 3), m);
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
