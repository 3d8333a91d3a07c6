//! The forward pass: embeddings, then per layer attention and SwiGLU feed-forward,
//! each behind an RMSNorm with a residual add, then the output projection.

use edgelm_kernels::cpu::ops::{add_assign, rms_norm, rope, softmax, swiglu, RopeAngles};
use edgelm_kernels::cpu::{matmul, Precision};
use rayon::prelude::*;

use super::{Matrix, Model};
use crate::kv_cache::KvCache;

/// Which positions of a batch need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsFor {
    /// Only the last token (generation).
    Last,
    /// Every token (perplexity).
    All,
}

impl Model {
    /// Runs `tokens` at positions `pos0..pos0 + tokens.len()`, appending their keys and
    /// values to `kv`, and returns logits (`vocab` per requested position).
    ///
    /// The caller checks that token ids are in the vocabulary and positions fit `kv`.
    pub fn forward(
        &self,
        tokens: &[u32],
        pos0: usize,
        kv: &mut KvCache,
        precision: Precision,
        logits_for: LogitsFor,
    ) -> Vec<f32> {
        let c = &self.config;
        let w = &self.weights;
        let n = tokens.len();
        let d = c.n_embd;
        let mm = |m: &Matrix, x: &[f32], out: &mut [f32]| {
            matmul(&m.view(&self.file), x, n, out, precision)
        };

        let mut x = vec![0f32; n * d];
        for (row, &id) in x.chunks_exact_mut(d).zip(tokens) {
            w.token_embd.row_f32(&self.file, id as usize, row);
        }
        let angles: Vec<RopeAngles> = (0..n)
            .map(|t| RopeAngles::new(pos0 + t, c.n_rot, c.rope_base, w.rope_freqs.as_deref()))
            .collect();

        let (qd, kvd) = (c.q_dim(), c.kv_dim());
        let mut xn = vec![0f32; n * d];
        let mut q = vec![0f32; n * qd];
        let mut k = vec![0f32; n * kvd];
        let mut v = vec![0f32; n * kvd];
        let mut attn = vec![0f32; n * qd];
        let mut gate = vec![0f32; n * c.n_ff];
        let mut up = vec![0f32; n * c.n_ff];
        let mut delta = vec![0f32; n * d];

        for (li, layer) in w.layers.iter().enumerate() {
            norm_rows(&x, &layer.attn_norm, c.rms_eps, &mut xn);
            mm(&layer.wq, &xn, &mut q);
            mm(&layer.wk, &xn, &mut k);
            mm(&layer.wv, &xn, &mut v);
            add_bias(&mut q, layer.bq.as_deref());
            add_bias(&mut k, layer.bk.as_deref());
            add_bias(&mut v, layer.bv.as_deref());
            for t in 0..n {
                rope(
                    &mut q[t * qd..(t + 1) * qd],
                    c.head_dim,
                    &angles[t],
                    c.rope_style,
                );
                rope(
                    &mut k[t * kvd..(t + 1) * kvd],
                    c.head_dim,
                    &angles[t],
                    c.rope_style,
                );
                kv.write(
                    li,
                    pos0 + t,
                    &k[t * kvd..(t + 1) * kvd],
                    &v[t * kvd..(t + 1) * kvd],
                );
            }
            self.attention(kv, li, pos0, &q, &mut attn);
            mm(&layer.wo, &attn, &mut delta);
            add_assign(&mut x, &delta);

            norm_rows(&x, &layer.ffn_norm, c.rms_eps, &mut xn);
            mm(&layer.gate, &xn, &mut gate);
            mm(&layer.up, &xn, &mut up);
            swiglu(&mut gate, &up);
            mm(&layer.down, &gate, &mut delta);
            add_assign(&mut x, &delta);
        }

        let rows = match logits_for {
            LogitsFor::Last => &x[(n - 1) * d..],
            LogitsFor::All => &x[..],
        };
        let n_out = rows.len() / d;
        let mut xn = vec![0f32; rows.len()];
        norm_rows(rows, &w.output_norm, c.rms_eps, &mut xn);
        let mut logits = vec![0f32; n_out * w.vocab_size];
        matmul(
            &w.output.view(&self.file),
            &xn,
            n_out,
            &mut logits,
            precision,
        );
        logits
    }

    /// Causal grouped-query attention of the `n` queries in `q` (positions from `pos0`)
    /// over everything cached for layer `li`.
    fn attention(&self, kv: &KvCache, li: usize, pos0: usize, q: &[f32], out: &mut [f32]) {
        let c = &self.config;
        let hd = c.head_dim;
        let (keys, values) = (kv.keys(li), kv.values(li));
        let row = kv.row_len();
        let group = c.n_head / c.n_head_kv;
        let scale = 1.0 / (hd as f32).sqrt();
        out.par_chunks_mut(hd).enumerate().for_each(|(i, o)| {
            let (t, h) = (i / c.n_head, i % c.n_head);
            let kv_off = (h / group) * hd;
            let qh = &q[i * hd..(i + 1) * hd];
            let span = pos0 + t + 1;
            let mut scores: Vec<f32> = (0..span)
                .map(|s| keys.dot(s * row + kv_off, qh) * scale)
                .collect();
            softmax(&mut scores);
            o.fill(0.0);
            for (s, &p) in scores.iter().enumerate() {
                values.axpy(s * row + kv_off, p, o);
            }
        });
    }
}

fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let d = weight.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        rms_norm(xr, weight, eps, or);
    }
}

fn add_bias(x: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        for row in x.chunks_exact_mut(b.len()) {
            add_assign(row, b);
        }
    }
}
