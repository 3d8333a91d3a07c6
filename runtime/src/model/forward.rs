//! The forward pass: embeddings, then per layer attention and a gated feed-forward,
//! each behind an RMSNorm with a residual add, then the output projection; the
//! architecture's spec (`arch`) adds the blocks it has (q/k norms, post norms,
//! sliding windows, GeGLU, scaled embeddings).
//!
//! Everything runs on the session's persistent [`ThreadPool`]: each matrix product
//! (q/k/v and gate/up fused) and the attention is one pass over the threads, and
//! the buffers live in a [`Scratch`] that outlives the step.

use edgelm_kernels::cpu::attention::{attend_group, attend_scratch_len, KvHead};
use edgelm_kernels::cpu::ops::{
    add_assign, geglu, gelu, layer_norm, rms_norm, rope, swiglu, RopeAngles,
};
use edgelm_kernels::cpu::{matmul_batch, matmul_in, Precision, ThreadPool};

use super::arch::Ffn;
use super::Model;
use crate::kv_cache::KvCache;

/// Which positions of a batch need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsFor {
    /// Only the last token (generation).
    Last,
    /// Every token (perplexity).
    All,
}

/// Buffers of the forward pass, reused from call to call so that a step allocates
/// nothing once they have grown to the largest batch and context seen.
#[derive(Debug, Default)]
pub struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    delta: Vec<f32>,
    logits: Vec<f32>,
    /// Attention scores and a converted cache row, one part per thread.
    attend: Vec<f32>,
    /// Each token's position in its sequence.
    pos: Vec<usize>,
    blocks: Vec<QueryBlock>,
}

/// The first `len` elements of `v`, growing it if needed.
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// One sequence's part of a batched forward pass: its new tokens, the position of
/// the first, and the cache they attend over and are appended to.
pub struct Segment<'a> {
    pub tokens: &'a [u32],
    pub pos0: usize,
    pub kv: &'a mut KvCache,
}

impl Model {
    /// Runs the tokens of every segment at their positions on `pool`, as one batch:
    /// each weight matrix is read once for all of them, and each segment attends over
    /// its own cache. Appends their keys and values to their caches and returns logits
    /// (`vocab` per requested row: the last token of each segment, or every token),
    /// which live in `scratch` until the next call. A segment's results are
    /// bit-identical to running it alone.
    ///
    /// The caller checks that token ids are in the vocabulary and positions fit the caches.
    pub fn forward<'s>(
        &self,
        segs: &mut [Segment<'_>],
        precision: Precision,
        logits_for: LogitsFor,
        pool: &ThreadPool,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        let c = &self.config;
        let w = &self.weights;
        let f = &self.file;
        let n: usize = segs.iter().map(|s| s.tokens.len()).sum();
        assert!(n > 0, "forward: no tokens");
        let d = c.n_embd;
        let (qd, kvd) = (c.q_dim(), c.kv_dim());

        let s = scratch;
        // Each token's position in its own sequence.
        s.pos.clear();
        for seg in segs.iter() {
            s.pos.extend(seg.pos0..seg.pos0 + seg.tokens.len());
        }
        query_blocks(segs, &mut s.blocks);
        let pos = &s.pos[..];
        let x = sized(&mut s.x, n * d);
        let xn = sized(&mut s.xn, n * d);
        let q = sized(&mut s.q, n * qd);
        let k = sized(&mut s.k, n * kvd);
        let v = sized(&mut s.v, n * kvd);
        let attn = sized(&mut s.attn, n * qd);
        let gate = sized(&mut s.gate, n * c.n_ff);
        let up = sized(&mut s.up, n * c.n_ff);
        let delta = sized(&mut s.delta, n * d);
        let tokens = segs.iter().flat_map(|s| s.tokens.iter());

        let arch = c.arch;
        for (row, &id) in x.chunks_exact_mut(d).zip(tokens) {
            w.token_embd.row_f32(f, id as usize, row);
        }
        if arch.scale_embeddings {
            let scale = (d as f32).sqrt();
            x.iter_mut().for_each(|v| *v *= scale);
        }
        if let Some(pe) = &w.position_embd {
            for (t, row) in x.chunks_exact_mut(d).enumerate() {
                pe.row_f32(f, pos[t], &mut xn[..d]);
                add_assign(row, &xn[..d]);
            }
        }
        let norm = |x: &[f32], w: &[f32], b: Option<&[f32]>, out: &mut [f32]| match b {
            Some(b) => {
                for (xr, or) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
                    layer_norm(xr, w, b, c.rms_eps, or);
                }
            }
            None => norm_rows(x, w, c.rms_eps, out),
        };
        let angles = |base: f32, scale: f32| -> Vec<RopeAngles> {
            pos.iter()
                .map(|&p| RopeAngles::scaled(p, c.n_rot, base, w.rope_freqs.as_deref(), scale))
                .collect()
        };
        let global_angles = angles(c.rope_base, c.rope_freq_scale);
        let local_angles = arch
            .sliding_window
            .and_then(|sw| sw.local_rope_base)
            // As llama.cpp: Gemma 3's local layers are never position-scaled.
            .map(|base| angles(base, 1.0));

        for (li, layer) in w.layers.iter().enumerate() {
            let window = c.layer_window(li);
            let angles = match (&local_angles, window) {
                (Some(local), Some(_)) => local,
                _ => &global_angles,
            };
            norm(x, &layer.attn_norm, layer.attn_norm_b.as_deref(), xn);
            matmul_batch(
                pool,
                xn,
                n,
                &mut [
                    (layer.wq.view(f), &mut *q),
                    (layer.wk.view(f), &mut *k),
                    (layer.wv.view(f), &mut *v),
                ],
                precision,
            );
            add_bias(q, layer.bq.as_deref());
            add_bias(k, layer.bk.as_deref());
            add_bias(v, layer.bv.as_deref());
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                // Each head normalized on its own: rows of head_dim.
                norm_in_place(q, qn, c.rms_eps, attn);
                norm_in_place(k, kn, c.rms_eps, attn);
            }
            let mut t = 0;
            for seg in segs.iter_mut() {
                for p in seg.pos0..seg.pos0 + seg.tokens.len() {
                    let (qt, kt) = (&mut q[t * qd..(t + 1) * qd], &mut k[t * kvd..(t + 1) * kvd]);
                    if let Some(style) = arch.rope {
                        rope(qt, c.head_dim, &angles[t], style);
                        rope(kt, c.head_dim, &angles[t], style);
                    }
                    seg.kv.write(li, p, kt, &v[t * kvd..(t + 1) * kvd]);
                    t += 1;
                }
            }
            let window = window.unwrap_or(usize::MAX);
            self.attention(segs, &s.blocks, li, window, q, attn, pool, &mut s.attend);
            matmul_in(pool, &layer.wo.view(f), attn, n, delta, precision);
            add_bias(delta, layer.bo.as_deref());
            add_residual(x, delta, layer.post_attn_norm.as_deref(), c.rms_eps, xn);

            norm(x, &layer.ffn_norm, layer.ffn_norm_b.as_deref(), xn);
            // `gate` ends up holding the activations the down projection reads.
            match &layer.gate {
                Some(g) => {
                    matmul_batch(
                        pool,
                        xn,
                        n,
                        &mut [(g.view(f), &mut *gate), (layer.up.view(f), &mut *up)],
                        precision,
                    );
                    add_bias(up, layer.b_up.as_deref());
                    let up = &*up;
                    let act = match arch.ffn {
                        Ffn::GeluTanh => geglu,
                        _ => swiglu,
                    };
                    pool.for_each_chunk(gate, c.n_ff, &mut [] as &mut [u8], &|t, g, _| {
                        act(g, &up[t * c.n_ff..(t + 1) * c.n_ff]);
                    });
                }
                None => {
                    matmul_in(pool, &layer.up.view(f), xn, n, gate, precision);
                    add_bias(gate, layer.b_up.as_deref());
                    pool.for_each_chunk(gate, c.n_ff, &mut [] as &mut [u8], &|_, g, _| gelu(g));
                }
            }
            matmul_in(pool, &layer.down.view(f), gate, n, delta, precision);
            add_bias(delta, layer.b_down.as_deref());
            add_residual(x, delta, layer.post_ffn_norm.as_deref(), c.rms_eps, xn);
        }

        let rows: &[f32] = match logits_for {
            LogitsFor::All => x,
            LogitsFor::Last => {
                // Each segment's last row, gathered at the front of `delta`.
                let mut end = 0;
                for (i, seg) in segs.iter().enumerate() {
                    end += seg.tokens.len();
                    delta[i * d..(i + 1) * d].copy_from_slice(&x[(end - 1) * d..end * d]);
                }
                &delta[..segs.len() * d]
            }
        };
        let n_out = rows.len() / d;
        let xn = &mut xn[..rows.len()];
        norm(rows, &w.output_norm, w.output_norm_b.as_deref(), xn);
        let logits = sized(&mut s.logits, n_out * w.vocab_size);
        matmul_in(pool, &w.output.view(f), xn, n_out, logits, precision);
        if let Some(cap) = c.final_softcap {
            logits.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        logits
    }

    /// Causal grouped-query attention of every query in `q` over its own sequence's
    /// cache for layer `li`. A work item is a block of consecutive queries of one
    /// sequence and one key/value head, covering the query heads that share it: the
    /// block shares each key and value read, the items keep every thread busy even for
    /// one query (decode), and every sequence of a batch is one pass over the threads.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        segs: &[Segment<'_>],
        blocks: &[QueryBlock],
        li: usize,
        window: usize,
        q: &[f32],
        out: &mut [f32],
        pool: &ThreadPool,
        scratch: &mut Vec<f32>,
    ) {
        let c = &self.config;
        let hd = c.head_dim;
        let group = c.n_head / c.n_head_kv;
        let width = group * hd;
        let head = |b: &QueryBlock, g: usize| KvHead {
            stride: segs[b.seg].kv.row_len(),
            offset: g * hd,
            head_dim: hd,
            span: b.pos + 1,
            window,
            softcap: c.attn_softcap,
        };
        let block = blocks.iter().map(|b| b.queries).max().unwrap_or(1);
        // Per thread: the item's queries gathered, then the attention scratch (sized
        // for the largest block's needs).
        let need = blocks
            .iter()
            .map(|b| attend_scratch_len(b.queries, group, &head(b, 0)))
            .max()
            .unwrap_or(0);
        let per_thread = block * width + need;
        // The items' outputs, item after item: block b's for head g at item b·n_kv + g.
        let items_len = blocks.len() * c.n_head_kv * block * width;
        let buf = sized(scratch, items_len + per_thread * pool.threads());
        let (items, part) = buf.split_at_mut(items_len);
        let row = c.n_head * hd;
        let scale = 1.0 / (hd as f32).sqrt();
        pool.for_each_chunk(items, block * width, part, &|i, o, part| {
            let (b, g) = (&blocks[i / c.n_head_kv], i % c.n_head_kv);
            let kv = &*segs[b.seg].kv;
            let queries = b.queries;
            let (qg, rest) = part.split_at_mut(queries * width);
            for (t, qt) in qg.chunks_exact_mut(width).enumerate() {
                qt.copy_from_slice(&q[(b.row + t) * row + g * width..][..width]);
            }
            let h = head(b, g);
            let need = attend_scratch_len(queries, group, &h);
            let o = &mut o[..queries * width];
            attend_group(
                qg,
                queries,
                group,
                kv.keys(li),
                kv.values(li),
                &h,
                scale,
                &mut rest[..need],
                o,
            );
        });
        for (i, item) in items.chunks_exact(block * width).enumerate() {
            let (b, g) = (&blocks[i / c.n_head_kv], i % c.n_head_kv);
            for (t, ot) in item.chunks_exact(width).take(b.queries).enumerate() {
                out[(b.row + t) * row + g * width..][..width].copy_from_slice(ot);
            }
        }
    }
}

/// Consecutive queries of one sequence attended together.
#[derive(Clone, Copy, Debug)]
struct QueryBlock {
    /// The sequence (index into the segments).
    seg: usize,
    /// The first query's row in the batch.
    row: usize,
    /// The first query's position in its sequence.
    pos: usize,
    queries: usize,
}

/// Splits each segment into blocks of up to [`ATTENTION_QUERIES`] queries (of equal
/// size but the last), as it would be split alone.
fn query_blocks(segs: &[Segment<'_>], out: &mut Vec<QueryBlock>) {
    out.clear();
    let mut row = 0;
    for (seg, s) in segs.iter().enumerate() {
        let n = s.tokens.len();
        let block = n.clamp(1, ATTENTION_QUERIES);
        for t0 in (0..n).step_by(block) {
            out.push(QueryBlock {
                seg,
                row: row + t0,
                pos: s.pos0 + t0,
                queries: block.min(n - t0),
            });
        }
        row += n;
    }
}

/// Queries per attention work item in a batch.
const ATTENTION_QUERIES: usize = 16;

fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let d = weight.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        rms_norm(xr, weight, eps, or);
    }
}

/// RMSNorm of each `weight.len()`-long row of `x`, in place (`tmp`: scratch of at
/// least one row).
fn norm_in_place(x: &mut [f32], weight: &[f32], eps: f32, tmp: &mut [f32]) {
    let d = weight.len();
    let tmp = &mut tmp[..d];
    for row in x.chunks_exact_mut(d) {
        rms_norm(row, weight, eps, tmp);
        row.copy_from_slice(tmp);
    }
}

/// `x += delta`, or `x += rms_norm(delta)` where the architecture normalizes a
/// block's output (`tmp`: scratch as long as `delta`).
fn add_residual(x: &mut [f32], delta: &[f32], norm: Option<&[f32]>, eps: f32, tmp: &mut [f32]) {
    match norm {
        Some(w) => {
            let tmp = &mut tmp[..delta.len()];
            norm_rows(delta, w, eps, tmp);
            add_assign(x, tmp);
        }
        None => add_assign(x, delta),
    }
}

fn add_bias(x: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        for row in x.chunks_exact_mut(b.len()) {
            add_assign(row, b);
        }
    }
}
