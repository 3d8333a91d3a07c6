//! The matrix product driver: quantizes activations once, splits the weight rows
//! into chunks over the threads and, for several tokens, reuses each chunk of
//! weight rows (kept in L1) for a tile of tokens at a time.
//!
//! Every output element is one call of the same dot kernel on the same bytes,
//! whatever the chunking, so results do not depend on the number of threads.

use rayon::prelude::*;

use super::dispatch::{
    kernels, DotF32Fn, InterleavedFn, PrepareFn, TileFn, VecDotFn, TILE_ROWS, TILE_TOKENS,
};
use super::interleave::{self, GROUP};
use super::pool::{SendPtr, ThreadPool};
use super::prefetch::prefetch;
use super::{vec_dot_type, Precision, WeightLayout, Weights};
use crate::quant::{dequantize_row, quantize_row, GgmlType};

/// Tokens dotted with a chunk's weight rows while they are hot (their activations,
/// ≤ 16 × 1.7 KiB for 1536 columns, stay in L1/L2 next to the rows).
const TOKEN_TILE: usize = 16;

/// How far ahead of the row being dotted its chunk's rows are prefetched (the tiles
/// prefetch for themselves).
const PREFETCH_ROWS: usize = 4;

/// The most weight rows a thread takes at a time.
const MAX_CHUNK_ROWS: usize = 64;

/// Products fused into one pass over the threads by [`matmul_batch`].
const MAX_FUSED: usize = 4;

/// `out[t * rows + r] = dot(row r of w, x[t * cols..(t + 1) * cols])` for `t` in
/// `0..n`.
///
/// Runs on the current rayon pool (set the thread count with `pool.install`).
/// Results do not depend on the number of threads, and equal [`matmul_in`]'s.
///
/// # Panics
/// If the shapes disagree: `w.data.len() != w.rows * w.ty.row_bytes(w.cols)`,
/// `x.len() != n * w.cols` or `out.len() != n * w.rows`. Callers validate shapes
/// (e.g. when loading a model) before calling.
pub fn matmul(w: &Weights, x: &[f32], n: usize, out: &mut [f32], precision: Precision) {
    let mut qx = Vec::new();
    run_batch(Exec::Rayon, x, n, &mut [(*w, out)], precision, &mut qx);
}

/// [`matmul`] on the threads of `pool`.
///
/// # Panics
/// As [`matmul`].
pub fn matmul_in(
    pool: &ThreadPool,
    w: &Weights,
    x: &[f32],
    n: usize,
    out: &mut [f32],
    precision: Precision,
) {
    matmul_batch(pool, x, n, &mut [(*w, out)], precision);
}

/// Several products of the same activations (`x`: `n` rows of the common column
/// count), e.g. the query, key and value projections: the activations are quantized
/// once and all products share one pass over the threads. Each `(w, out)` gets what
/// [`matmul`] would write.
///
/// # Panics
/// As [`matmul`] for each product.
pub fn matmul_batch(
    pool: &ThreadPool,
    x: &[f32],
    n: usize,
    products: &mut [(Weights<'_>, &mut [f32])],
    precision: Precision,
) {
    match pool.scratch.try_lock() {
        Ok(mut qx) => run_batch(Exec::Pool(pool), x, n, products, precision, &mut qx),
        // Another call is using the pool (it will run this one serially anyway).
        Err(_) => run_batch(Exec::Pool(pool), x, n, products, precision, &mut Vec::new()),
    }
}

/// Where the chunks run.
#[derive(Clone, Copy)]
enum Exec<'p> {
    Rayon,
    Pool(&'p ThreadPool),
}

impl Exec<'_> {
    fn threads(self) -> usize {
        match self {
            Exec::Rayon => rayon::current_num_threads(),
            Exec::Pool(p) => p.threads(),
        }
    }

    /// `f(state, item)` for every item in `0..items`; `state` is made per thread,
    /// lazily, by `init`.
    fn for_each<S, I, F>(self, items: usize, init: I, f: F)
    where
        I: Fn() -> S + Sync,
        F: Fn(&mut S, usize) + Sync,
    {
        match self {
            Exec::Rayon => (0..items)
                .into_par_iter()
                .for_each_init(&init, |s, i| f(s, i)),
            Exec::Pool(p) => {
                if items == 0 {
                    return;
                }
                let next = std::sync::atomic::AtomicUsize::new(0);
                let run = || {
                    let mut state = None;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= items {
                            break;
                        }
                        f(state.get_or_insert_with(&init), i);
                    }
                };
                if items == 1 {
                    run();
                } else {
                    p.run(&|_| run());
                }
            }
        }
    }
}

/// One product of a batch, with the raw output it writes.
#[derive(Clone, Copy)]
struct Task<'a> {
    w: Weights<'a>,
    row_bytes: usize,
    out: SendPtr<f32>,
    /// `None`: dequantize and dot in f32.
    fast: Option<Fast>,
    /// Index of this task's first chunk among all chunks of the batch.
    first_chunk: usize,
    chunk_rows: usize,
}

/// The quantized path of one product.
#[derive(Clone, Copy)]
struct Fast {
    dot: VecDotFn,
    /// Where the quantized activations start in the scratch buffer, and their row
    /// length.
    at: usize,
    q_bytes: usize,
    /// The tile kernel and the range of the scratch buffer it reads.
    tile: Option<(TileFn, (usize, usize))>,
    /// The kernel for interleaved weights (which then have no tile kernel) and the
    /// range of the scratch buffer it reads.
    interleaved: Option<(InterleavedFn, (usize, usize))>,
}

/// Where one layout of the activations lives in the scratch buffer: the quantized
/// rows of a `vec_dot` type, or those rows prepared for a weight type's tiles.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Quantized(GgmlType),
    PreparedFor(GgmlType, WeightLayout),
}

fn run_batch(
    exec: Exec,
    x: &[f32],
    n: usize,
    products: &mut [(Weights<'_>, &mut [f32])],
    precision: Precision,
    qx: &mut Vec<u8>,
) {
    let Some(cols) = products.first().map(|(w, _)| w.cols) else {
        return;
    };
    assert_eq!(x.len(), n * cols, "matmul: activation length");
    let k = kernels();
    for group in products.chunks_mut(MAX_FUSED) {
        // The activation layouts this group needs, and where they are in `qx`.
        // (layout, (start, end) in `qx`)
        let mut layouts = [(Layout::Quantized(GgmlType::F32), (0, 0)); 2 * MAX_FUSED];
        let mut n_layouts = 0;
        let mut used = 0;
        let mut tasks: [Option<Task>; MAX_FUSED] = [None; MAX_FUSED];
        let mut chunks = 0;
        let threads = exec.threads();
        for ((w, out), task) in group.iter_mut().zip(tasks.iter_mut()) {
            let row_bytes = w.ty.row_bytes(w.cols).unwrap_or_else(|| {
                panic!(
                    "matmul: {} columns is not a whole number of {} blocks",
                    w.cols, w.ty
                )
            });
            assert_eq!(w.cols, cols, "matmul: products of one batch share columns");
            assert_eq!(w.data.len(), w.rows * row_bytes, "matmul: weight bytes");
            assert_eq!(out.len(), n * w.rows, "matmul: output length");
            if out.is_empty() {
                continue;
            }
            if cols == 0 {
                out.fill(0.0);
                continue;
            }
            let fast = match (precision, k.vec_dot(w.ty)) {
                (Precision::Fast, Some(dot)) => {
                    let vt = vec_dot_type(w.ty);
                    let q_bytes = vt
                        .row_bytes(cols)
                        .expect("vec_dot types have blocks no larger than their weight types");
                    let mut find_or_make =
                        |layout: Layout, len: usize, make: &dyn Fn(&mut Vec<u8>, usize)| {
                            if let Some(l) = layouts[..n_layouts].iter().find(|l| l.0 == layout) {
                                return l.1;
                            }
                            let range = (used, used + len);
                            if qx.len() < range.1 {
                                qx.resize(range.1, 0);
                            }
                            make(qx, used);
                            used = range.1;
                            layouts[n_layouts] = (layout, range);
                            n_layouts += 1;
                            range
                        };
                    let quantized = find_or_make(Layout::Quantized(vt), n * q_bytes, &|qx, at| {
                        quantize(exec, vt, x, cols, n, q_bytes, at, qx)
                    });
                    let interleaved = match w.layout {
                        WeightLayout::Rows => None,
                        WeightLayout::Interleaved => k.interleaved(w.ty),
                    };
                    // Interleaved rows are read by their kernel, or one by one.
                    let tile_kernel = k.tile(w.ty).filter(|_| w.layout == WeightLayout::Rows);
                    let mut prepared = |(prepare, bytes): (PrepareFn, usize)| {
                        let len = n * bytes * (cols / w.ty.block_size());
                        find_or_make(Layout::PreparedFor(w.ty, w.layout), len, &|qx, at| {
                            let (head, tail) = qx.split_at_mut(at);
                            prepare(&head[quantized.0..quantized.1], n, &mut tail[..len]);
                        })
                    };
                    let tile = tile_kernel.map(|tk| {
                        let range = tk.prepare.map_or(quantized, &mut prepared);
                        (tk.tile, range)
                    });
                    let interleaved_run = interleaved.map(|ik| (ik.run, prepared(ik.prepare)));
                    // The formula every row of the product follows.
                    let dot = match (interleaved, k.tile(w.ty)) {
                        (Some(ik), _) => ik.dot,
                        (None, Some(tk)) => tk.dot,
                        _ => dot,
                    };
                    Some(Fast {
                        dot,
                        at: quantized.0,
                        q_bytes,
                        tile,
                        interleaved: interleaved_run,
                    })
                }
                _ => None,
            };
            // Enough chunks to balance the threads, each big enough that taking one
            // costs little next to its dots.
            // A multiple of the tile's rows, so only a matrix's last chunk has rows
            // left over.
            let chunk_rows = (w.rows / (8 * threads))
                .clamp(8, MAX_CHUNK_ROWS)
                .next_multiple_of(TILE_ROWS.max(GROUP));
            *task = Some(Task {
                w: *w,
                row_bytes,
                out: SendPtr(out.as_mut_ptr()),
                fast,
                first_chunk: chunks,
                chunk_rows,
            });
            chunks += w.rows.div_ceil(chunk_rows);
        }
        let qx = &qx[..];
        let dot_f32 = k.dot_f32;
        exec.for_each(
            chunks,
            Default::default,
            |bufs: &mut (Vec<f32>, Vec<u8>), c| {
                let t = tasks
                    .iter()
                    .flatten()
                    .rev()
                    .find(|t| t.first_chunk <= c)
                    .expect("chunk 0 belongs to the first task");
                let r0 = (c - t.first_chunk) * t.chunk_rows;
                let r1 = (r0 + t.chunk_rows).min(t.w.rows);
                match t.fast {
                    Some(f) => fast_chunk(t, r0..r1, n, qx, &f, bufs),
                    None => precise_chunk(t, r0..r1, x, n, bufs, dot_f32),
                }
            },
        );
    }
}

/// Quantizes the `n` rows of `x` to `vt` into `qx[at..at + n * q_bytes]`.
#[allow(clippy::too_many_arguments)]
fn quantize(
    exec: Exec,
    vt: GgmlType,
    x: &[f32],
    cols: usize,
    n: usize,
    q_bytes: usize,
    at: usize,
    qx: &mut Vec<u8>,
) {
    if qx.len() < at + n * q_bytes {
        qx.resize(at + n * q_bytes, 0);
    }
    let dst = &mut qx[at..at + n * q_bytes];
    let simd = kernels().quantize(vt);
    let one = |q: &mut [u8], xr: &[f32]| match simd {
        Some(f) => f(xr, q),
        None => quantize_row(vt, xr, q).expect("every vec_dot type has a quantizer"),
    };
    match exec {
        Exec::Pool(p) if n > 1 => {
            p.for_each_chunk(dst, q_bytes, &mut [] as &mut [u8], &|t, q, _| {
                one(q, &x[t * cols..(t + 1) * cols])
            })
        }
        Exec::Rayon if n > 1 => dst
            .par_chunks_mut(q_bytes)
            .zip(x.par_chunks(cols))
            .for_each(|(q, xr)| one(q, xr)),
        _ => dst
            .chunks_exact_mut(q_bytes)
            .zip(x.chunks_exact(cols))
            .for_each(|(q, xr)| one(q, xr)),
    }
}

/// Rows `rows` of task `t` for every token, a tile of tokens at a time: with a tile
/// kernel, up to [`TILE_ROWS`] × [`TILE_TOKENS`] outputs per call (a dot per output
/// for rows left over), with an interleaved kernel all the chunk's groups per call,
/// else one dot per output. `bufs` holds an interleaved kernel's outputs, and an
/// interleaved row rebuilt for a dot.
fn fast_chunk(
    t: &Task,
    rows: std::ops::Range<usize>,
    n: usize,
    scratch: &[u8],
    f: &Fast,
    (buf, row_buf): &mut (Vec<f32>, Vec<u8>),
) {
    let (total, rb, q_bytes) = (t.w.rows, t.row_bytes, f.q_bytes);
    let qx = &scratch[f.at..f.at + n * q_bytes];
    // Outputs of token `tok` for the rows from `r`.
    let store = |tok: usize, r: usize, v: &[f32]| {
        assert!(r + v.len() <= rows.end);
        // SAFETY: `out` has `n * total` elements (checked in `run_batch`) and elements
        // `tok * total + r..` up to the chunk's last row belong to this chunk alone.
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), t.out.get().add(tok * total + r), v.len())
        };
    };
    // Interleaved rows are rebuilt there for a dot; rows in place need no buffer.
    if t.w.layout == WeightLayout::Interleaved {
        row_buf.resize(rb, 0);
    }
    let mut dots = |r: usize, toks: std::ops::Range<usize>| {
        prefetch(t.w.data, (r + PREFETCH_ROWS) * rb, rb);
        let wr = interleave::row(&t.w, rb, r, row_buf);
        for tok in toks {
            store(
                tok,
                r,
                &[(f.dot)(wr, &qx[tok * q_bytes..(tok + 1) * q_bytes])],
            );
        }
    };
    if let Some((run, act)) = f.interleaved {
        let act = &scratch[act.0..act.1];
        // The chunk's whole groups in one call per tile of tokens (the chunk starts
        // a group), then the rows after the last group, which are in place.
        let end = (total / GROUP * GROUP).min(rows.end);
        let g = end.saturating_sub(rows.start);
        if g > 0 {
            let w = &t.w.data[rows.start * rb..end * rb];
            // Sized once per thread: zeroing it per call cost more than the copies.
            buf.resize(TILE_TOKENS * MAX_CHUNK_ROWS, 0.0);
            for t0 in (0..n).step_by(TILE_TOKENS) {
                let tokens = TILE_TOKENS.min(n - t0);
                let buf = &mut buf[..tokens * g];
                run(w, rb, act, n, t0, tokens, buf);
                for (j, outs) in buf.chunks_exact(g).enumerate() {
                    store(t0 + j, rows.start, outs);
                }
            }
        }
        for r in end.max(rows.start)..rows.end {
            dots(r, 0..n);
        }
        return;
    }
    for t0 in (0..n).step_by(TOKEN_TILE) {
        let t1 = (t0 + TOKEN_TILE).min(n);
        let mut r = rows.start;
        if let Some((tile, act)) = &f.tile {
            let act = &scratch[act.0..act.1];
            let mut out = [[0f32; TILE_TOKENS]; TILE_ROWS];
            while r + TILE_ROWS <= rows.end {
                let w = &t.w.data[r * rb..(r + TILE_ROWS) * rb];
                for tok in (t0..t1).step_by(TILE_TOKENS) {
                    let tokens = TILE_TOKENS.min(t1 - tok);
                    tile(w, rb, act, n, tok, tokens, &mut out);
                    // Token by token: the tile's rows are adjacent outputs.
                    for j in 0..tokens {
                        store(tok + j, r, &out.map(|row| row[j]));
                    }
                }
                r += TILE_ROWS;
            }
        }
        for r in r..rows.end {
            dots(r, t0..t1);
        }
    }
}

/// Rows `rows` of task `t`, each dequantized once into `bufs.0` (an interleaved row
/// rebuilt in `bufs.1` first) and dotted in f32.
fn precise_chunk(
    t: &Task,
    rows: std::ops::Range<usize>,
    x: &[f32],
    n: usize,
    (buf, row_buf): &mut (Vec<f32>, Vec<u8>),
    dot: DotF32Fn,
) {
    let (cols, total) = (t.w.cols, t.w.rows);
    buf.resize(cols, 0.0);
    row_buf.resize(t.row_bytes, 0);
    for r in rows {
        let row = interleave::row(&t.w, t.row_bytes, r, row_buf);
        dequantize_row(t.w.ty, row, buf);
        for (tok, xr) in x.chunks_exact(cols).take(n).enumerate() {
            let v = dot(buf, xr);
            // SAFETY: as in `fast_chunk`.
            unsafe { *t.out.get().add(tok * total + r) = v };
        }
    }
}
