//! The forward pass on an NVIDIA GPU (feature `cuda`): the same steps as
//! `forward.rs`, with the weights uploaded once, the f16 KV cache and every
//! activation in GPU memory. Per step only token ids go in and logits come out.
//!
//! Activations stay f32 and the kernels dequantize the weights exactly, so the
//! results track the CPU's `Precision::Precise` path with an f16 KV cache.

use edgelm_kernels::cpu::ops::RopeStyle;
use edgelm_kernels::cuda::{
    gpu_matrix_bytes, AttentionShape, CudaError, CudaSlice as Buf, Gpu, GpuMatrix, RopeShape,
};

use super::arch::{Ffn, Norm};
use super::{LogitsFor, Matrix, Model, ModelConfig};

struct GpuLayer {
    attn_norm: Buf<f32>,
    wq: GpuMatrix,
    wk: GpuMatrix,
    wv: GpuMatrix,
    wo: GpuMatrix,
    bq: Option<Buf<f32>>,
    bk: Option<Buf<f32>>,
    bv: Option<Buf<f32>>,
    ffn_norm: Buf<f32>,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
    /// f16 keys and values, `[n_ctx][kv_dim]`.
    kc: Buf<u16>,
    vc: Buf<u16>,
}

/// Activations of up to `max_batch` tokens.
struct Bufs {
    ids: Buf<u32>,
    x: Buf<f32>,
    xn: Buf<f32>,
    q: Buf<f32>,
    k: Buf<f32>,
    v: Buf<f32>,
    attn: Buf<f32>,
    gate: Buf<f32>,
    up: Buf<f32>,
    delta: Buf<f32>,
    logits: Buf<f32>,
}

/// A model resident on the GPU with its KV cache.
pub struct CudaForward {
    gpu: Gpu,
    config: ModelConfig,
    vocab: usize,
    max_batch: usize,
    n_ctx: usize,
    token_embd: GpuMatrix,
    /// `None` when the output projection is tied to the embedding.
    output: Option<GpuMatrix>,
    output_norm: Buf<f32>,
    rope_freqs: Option<Buf<f32>>,
    layers: Vec<GpuLayer>,
    bufs: Bufs,
    bytes: usize,
}

fn matrix_bytes(m: &Matrix) -> usize {
    gpu_matrix_bytes(m.info.ty, m.rows, m.cols)
}

impl CudaForward {
    /// GPU memory [`CudaForward::new`] allocates for `model` with `n_ctx`
    /// positions and batches of up to `max_batch` tokens.
    pub fn bytes_needed(model: &Model, n_ctx: usize, max_batch: usize) -> usize {
        let c = &model.config;
        let w = &model.weights;
        let mut total = matrix_bytes(&w.token_embd) + 4 * c.n_embd;
        if !w.output_is_tied {
            total += matrix_bytes(&w.output);
        }
        for l in &w.layers {
            for m in l.matrices() {
                total += matrix_bytes(m);
            }
            total += 4 * (2 * c.n_embd + c.q_dim() + 2 * c.kv_dim());
        }
        let kv = 2 * c.n_layer * n_ctx * c.kv_dim() * 2;
        let acts = max_batch * (3 * c.n_embd + 2 * c.q_dim() + 2 * c.kv_dim() + 2 * c.n_ff);
        total + kv + 4 * (acts + max_batch * w.vocab_size + max_batch)
    }

    /// Checks that the model fits in free GPU memory, then uploads it.
    pub fn new(
        gpu: Gpu,
        model: &Model,
        n_ctx: usize,
        max_batch: usize,
    ) -> Result<CudaForward, CudaError> {
        let c = model.config.clone();
        let a = c.arch;
        // The GPU forward has the llama blocks only so far; a model with others runs
        // on the CPU (`Device::Auto` falls back and says why).
        if a.qk_norm
            || a.rope.is_none()
            || a.norm != Norm::Rms
            || a.fused_qkv
            || a.post_norms
            || a.scale_embeddings
            || a.sliding_window.is_some()
            || a.ffn != Ffn::Silu
        {
            return Err(CudaError::Unsupported(format!(
                "the CUDA forward does not run '{}' models yet ({})",
                a.name,
                a.features().join(", ")
            )));
        }
        if c.rope_freq_scale != 1.0 {
            return Err(CudaError::Unsupported(
                "the CUDA forward does not scale RoPE positions (rope.scaling.type linear) yet"
                    .into(),
            ));
        }
        let w = &model.weights;
        let bytes = Self::bytes_needed(model, n_ctx, max_batch);
        gpu.check_fits(bytes)?;
        let f = &model.file;
        let up = |m: &Matrix| gpu.upload_matrix(m.info.ty, m.rows, m.cols, f.tensor_data(&m.info));
        let vec = |v: &[f32]| gpu.upload(v);
        let opt = |v: &Option<Vec<f32>>| v.as_deref().map(|b| gpu.upload(b)).transpose();
        let kv_len = n_ctx * c.kv_dim();
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in &w.layers {
            layers.push(GpuLayer {
                attn_norm: vec(&l.attn_norm)?,
                wq: up(&l.wq)?,
                wk: up(&l.wk)?,
                wv: up(&l.wv)?,
                wo: up(&l.wo)?,
                bq: opt(&l.bq)?,
                bk: opt(&l.bk)?,
                bv: opt(&l.bv)?,
                ffn_norm: vec(&l.ffn_norm)?,
                gate: up(l.gate.as_ref().expect("gated: checked above"))?,
                up: up(&l.up)?,
                down: up(&l.down)?,
                kc: gpu.zeros(kv_len)?,
                vc: gpu.zeros(kv_len)?,
            });
        }
        let b = max_batch;
        let bufs = Bufs {
            ids: gpu.zeros(b)?,
            x: gpu.zeros(b * c.n_embd)?,
            xn: gpu.zeros(b * c.n_embd)?,
            q: gpu.zeros(b * c.q_dim())?,
            k: gpu.zeros(b * c.kv_dim())?,
            v: gpu.zeros(b * c.kv_dim())?,
            attn: gpu.zeros(b * c.q_dim())?,
            gate: gpu.zeros(b * c.n_ff)?,
            up: gpu.zeros(b * c.n_ff)?,
            delta: gpu.zeros(b * c.n_embd)?,
            logits: gpu.zeros(b * w.vocab_size)?,
        };
        let fwd = CudaForward {
            token_embd: up(&w.token_embd)?,
            output: if w.output_is_tied {
                None
            } else {
                Some(up(&w.output)?)
            },
            output_norm: vec(&w.output_norm)?,
            rope_freqs: opt(&w.rope_freqs)?,
            layers,
            bufs,
            vocab: w.vocab_size,
            max_batch,
            n_ctx,
            bytes,
            config: c,
            gpu,
        };
        fwd.gpu.synchronize()?;
        Ok(fwd)
    }

    pub fn gpu_name(&self) -> &str {
        self.gpu.name()
    }

    /// GPU memory held for weights, KV cache and activations.
    pub fn gpu_bytes(&self) -> usize {
        self.bytes
    }

    /// Runs `tokens` (at most `max_batch`, ids checked against the vocabulary by
    /// the caller) at positions `pos0..`, and returns the logits asked for.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        logits_for: LogitsFor,
    ) -> Result<Vec<f32>, CudaError> {
        let n = tokens.len();
        if n == 0 || n > self.max_batch || pos0 + n > self.n_ctx {
            return Err(CudaError::Unsupported(format!(
                "{n} tokens at position {pos0} do not fit a batch of {} in a context of {}",
                self.max_batch, self.n_ctx
            )));
        }
        let Self {
            gpu: g,
            config: c,
            bufs: b,
            layers,
            token_embd,
            output,
            output_norm,
            rope_freqs,
            vocab,
            ..
        } = self;
        let (d, qd, kvd, ff) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff);
        g.embed(token_embd, tokens, &mut b.ids, &mut b.x.slice_mut(..n * d))?;
        let rope = |n_heads| RopeShape {
            n,
            n_heads,
            head_dim: c.head_dim,
            n_rot: c.n_rot,
            pos0,
            base: c.rope_base,
            neox: c.arch.rope == Some(RopeStyle::Neox),
        };
        let att = AttentionShape {
            n,
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            pos0,
            scale: 1.0 / (c.head_dim as f32).sqrt(),
        };
        let freqs = rope_freqs.as_ref();
        for l in layers.iter_mut() {
            g.rms_norm(
                &b.x.as_view(),
                &l.attn_norm,
                c.rms_eps,
                n,
                &mut b.xn.as_view_mut(),
            )?;
            let xn = b.xn.as_view();
            g.matmul(&l.wq, &xn, n, &mut b.q.as_view_mut())?;
            g.matmul(&l.wk, &xn, n, &mut b.k.as_view_mut())?;
            g.matmul(&l.wv, &xn, n, &mut b.v.as_view_mut())?;
            for (bias, buf, len) in [
                (&l.bq, &mut b.q, qd),
                (&l.bk, &mut b.k, kvd),
                (&l.bv, &mut b.v, kvd),
            ] {
                if let Some(bias) = bias {
                    g.add_rows(&mut buf.as_view_mut(), &bias.as_view(), n * len)?;
                }
            }
            g.rope(&mut b.q.as_view_mut(), freqs, rope(c.n_head))?;
            g.rope(&mut b.k.as_view_mut(), freqs, rope(c.n_head_kv))?;
            g.kv_store(
                &b.k.as_view(),
                &b.v.as_view(),
                &mut l.kc.as_view_mut(),
                &mut l.vc.as_view_mut(),
                n,
                kvd,
                pos0,
            )?;
            g.attention(
                &b.q.as_view(),
                &l.kc.as_view(),
                &l.vc.as_view(),
                &mut b.attn.as_view_mut(),
                att,
            )?;
            g.matmul(&l.wo, &b.attn.as_view(), n, &mut b.delta.as_view_mut())?;
            g.add_rows(&mut b.x.as_view_mut(), &b.delta.as_view(), n * d)?;

            g.rms_norm(
                &b.x.as_view(),
                &l.ffn_norm,
                c.rms_eps,
                n,
                &mut b.xn.as_view_mut(),
            )?;
            let xn = b.xn.as_view();
            g.matmul(&l.gate, &xn, n, &mut b.gate.as_view_mut())?;
            g.matmul(&l.up, &xn, n, &mut b.up.as_view_mut())?;
            g.swiglu(&mut b.gate.as_view_mut(), &b.up.as_view(), n * ff)?;
            g.matmul(&l.down, &b.gate.as_view(), n, &mut b.delta.as_view_mut())?;
            g.add_rows(&mut b.x.as_view_mut(), &b.delta.as_view(), n * d)?;
        }
        let (first, n_out) = match logits_for {
            LogitsFor::Last => (n - 1, 1),
            LogitsFor::All => (0, n),
        };
        g.rms_norm(
            &b.x.slice(first * d..n * d),
            output_norm,
            c.rms_eps,
            n_out,
            &mut b.xn.as_view_mut(),
        )?;
        let out = output.as_ref().unwrap_or(token_embd);
        g.matmul(out, &b.xn.as_view(), n_out, &mut b.logits.as_view_mut())?;
        let logits = g.download(&b.logits.slice(..n_out * *vocab))?;
        g.synchronize()?;
        Ok(logits)
    }
}
