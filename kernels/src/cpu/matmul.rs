//! The matrix product driver: quantizes activations once, splits the weight rows
//! into chunks over the current rayon pool and reuses each row for every token.

use rayon::prelude::*;

use super::dispatch::{kernels, DotF32Fn, VecDotFn};
use super::{vec_dot_type, Precision, Weights};
use crate::quant::{dequantize_row, quantize_row};

/// `out[t * rows + r] = dot(row r of w, x[t * cols..(t + 1) * cols])` for `t` in
/// `0..n`.
///
/// Runs on the current rayon pool (set the thread count with `pool.install`).
/// Results do not depend on the number of threads.
///
/// # Panics
/// If the shapes disagree: `w.data.len() != w.rows * w.ty.row_bytes(w.cols)`,
/// `x.len() != n * w.cols` or `out.len() != n * w.rows`. Callers validate shapes
/// (e.g. when loading a model) before calling.
pub fn matmul(w: &Weights, x: &[f32], n: usize, out: &mut [f32], precision: Precision) {
    let row_bytes = w.ty.row_bytes(w.cols).unwrap_or_else(|| {
        panic!(
            "matmul: {} columns is not a whole number of {} blocks",
            w.cols, w.ty
        )
    });
    assert_eq!(w.data.len(), w.rows * row_bytes, "matmul: weight bytes");
    assert_eq!(x.len(), n * w.cols, "matmul: activation length");
    assert_eq!(out.len(), n * w.rows, "matmul: output length");
    if out.is_empty() {
        return;
    }
    if w.cols == 0 {
        out.fill(0.0);
        return;
    }
    let k = kernels();
    match (precision, k.vec_dot(w.ty)) {
        (Precision::Fast, Some(dot)) => fast(w, row_bytes, x, n, out, dot),
        _ => precise(w, row_bytes, x, n, out, k.dot_f32),
    }
}

/// Rows per parallel task: enough tasks to balance the pool, few enough that the
/// scheduling overhead stays small next to the dots.
fn chunk_rows(rows: usize) -> usize {
    rows.div_ceil(4 * rayon::current_num_threads())
        .clamp(16, 64)
}

/// Runs `row(r, results)` for every weight row, where `results[t]` receives the
/// value for token `t`, and lays the results out as `out[t * rows + r]`.
fn for_each_row<S, I, F>(rows: usize, n: usize, out: &mut [f32], init: I, row: F)
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [f32]) + Sync + Send,
{
    let chunk = chunk_rows(rows);
    let run = |dst: &mut [f32]| {
        dst.par_chunks_mut(chunk * n)
            .enumerate()
            .for_each_init(&init, |state, (c, block)| {
                for (i, res) in block.chunks_exact_mut(n).enumerate() {
                    row(state, c * chunk + i, res);
                }
            });
    };
    if n == 1 {
        run(out);
    } else {
        // Token-major output but row-major work: compute [r][t], then transpose.
        let mut tmp = vec![0f32; rows * n];
        run(&mut tmp);
        out.par_chunks_mut(rows).enumerate().for_each(|(t, o)| {
            for (r, v) in o.iter_mut().enumerate() {
                *v = tmp[r * n + t];
            }
        });
    }
}

fn fast(w: &Weights, row_bytes: usize, x: &[f32], n: usize, out: &mut [f32], dot: VecDotFn) {
    let vt = vec_dot_type(w.ty);
    let q_bytes = vt
        .row_bytes(w.cols)
        .expect("vec_dot types have blocks no larger than their weight types");
    let mut qx = vec![0u8; n * q_bytes];
    qx.par_chunks_mut(q_bytes)
        .zip(x.par_chunks(w.cols))
        .for_each(|(q, xr)| {
            quantize_row(vt, xr, q).expect("every vec_dot type has a quantizer");
        });
    for_each_row(
        w.rows,
        n,
        out,
        || (),
        |_, r, res| {
            let wr = &w.data[r * row_bytes..(r + 1) * row_bytes];
            for (v, xq) in res.iter_mut().zip(qx.chunks_exact(q_bytes)) {
                *v = dot(wr, xq);
            }
        },
    );
}

fn precise(w: &Weights, row_bytes: usize, x: &[f32], n: usize, out: &mut [f32], dot: DotF32Fn) {
    let cols = w.cols;
    for_each_row(
        w.rows,
        n,
        out,
        || vec![0f32; cols],
        |buf, r, res| {
            dequantize_row(w.ty, &w.data[r * row_bytes..(r + 1) * row_bytes], buf);
            for (v, xr) in res.iter_mut().zip(x.chunks_exact(cols)) {
                *v = dot(buf, xr);
            }
        },
    );
}
