//! The model's tensors, located in the mapped GGUF file and checked against the
//! hyper-parameters before anything runs.

use std::sync::Arc;

use edgelm_kernels::cpu::{interleave, WeightLayout, Weights};
use edgelm_kernels::quant::{dequantize_row, GgmlType};

use super::arch::{Norm, Presence};
use super::config::ModelConfig;
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};

/// A 2-D weight read in place from the map: `rows` rows of `cols` elements (rows
/// `first..first + rows` of its tensor: one part of a fused tensor); or, where this
/// CPU's kernels read a rearranged copy faster, from that copy.
#[derive(Clone)]
pub struct Matrix {
    pub info: TensorInfo,
    pub rows: usize,
    pub cols: usize,
    /// The tensor's row this matrix starts at.
    pub first: usize,
    /// The rows interleaved for this CPU's kernels (`edgelm_kernels::cpu::interleave`).
    interleaved: Option<Arc<[u8]>>,
}

impl Matrix {
    /// The weights the CPU kernels read.
    pub fn view<'a>(&'a self, file: &'a GgufFile) -> Weights<'a> {
        match &self.interleaved {
            Some(data) => Weights {
                ty: self.info.ty,
                rows: self.rows,
                cols: self.cols,
                data,
                layout: WeightLayout::Interleaved,
            },
            None => Weights::rows(self.info.ty, self.rows, self.cols, self.bytes(file)),
        }
    }

    /// This matrix's rows in the map.
    fn bytes<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        let rb = self
            .info
            .ty
            .row_bytes(self.cols)
            .expect("validated at load");
        &file.tensor_data(&self.info)[self.first * rb..(self.first + self.rows) * rb]
    }

    /// Bytes held in memory besides the map (an interleaved copy).
    pub fn copied_bytes(&self) -> usize {
        self.interleaved.as_ref().map_or(0, |d| d.len())
    }

    /// Row `r` as f32 (embedding lookups).
    pub fn row_f32(&self, file: &GgufFile, r: usize, out: &mut [f32]) {
        let row_bytes = self
            .info
            .ty
            .row_bytes(self.cols)
            .expect("validated at load");
        let data = &self.bytes(file)[r * row_bytes..(r + 1) * row_bytes];
        dequantize_row(self.info.ty, data, out);
    }
}

pub struct Layer {
    pub attn_norm: Vec<f32>,
    /// LayerNorm biases (`arch.norm` is `Norm::Layer`).
    pub attn_norm_b: Option<Vec<f32>>,
    pub wq: Matrix,
    pub wk: Matrix,
    pub wv: Matrix,
    pub wo: Matrix,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    /// Per-head RMSNorm weights of queries and keys (`arch.qk_norm`).
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    /// RMSNorm weights of the attention and feed-forward outputs (`arch.post_norms`).
    pub post_attn_norm: Option<Vec<f32>>,
    pub post_ffn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub ffn_norm_b: Option<Vec<f32>>,
    /// Biases of the output, up and down projections, where the file has them.
    pub bo: Option<Vec<f32>>,
    pub b_up: Option<Vec<f32>>,
    pub b_down: Option<Vec<f32>>,
    /// `None` for a plain (ungated) feed-forward.
    pub gate: Option<Matrix>,
    pub up: Matrix,
    pub down: Matrix,
}

impl Layer {
    /// The layer's projections (with the gate where there is one).
    pub fn matrices(&self) -> impl Iterator<Item = &Matrix> {
        let m = [&self.wq, &self.wk, &self.wv, &self.wo, &self.up, &self.down];
        m.into_iter().chain(self.gate.as_ref())
    }

    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Matrix> {
        let m = [
            &mut self.wq,
            &mut self.wk,
            &mut self.wv,
            &mut self.wo,
            &mut self.up,
            &mut self.down,
        ];
        m.into_iter().chain(self.gate.as_mut())
    }
}

pub struct ModelWeights {
    pub token_embd: Matrix,
    /// Learned absolute position embeddings (architectures without RoPE).
    pub position_embd: Option<Matrix>,
    pub output_norm: Vec<f32>,
    pub output_norm_b: Option<Vec<f32>>,
    /// `output.weight`, or the token embedding when the model ties them.
    pub output: Matrix,
    pub output_is_tied: bool,
    /// Llama 3.1 style per-pair RoPE frequency divisors.
    pub rope_freqs: Option<Vec<f32>>,
    pub layers: Vec<Layer>,
    pub vocab_size: usize,
}

struct Loader<'a> {
    file: &'a GgufFile,
}

impl Loader<'_> {
    fn bad(&self, msg: String) -> Error {
        Error::Model {
            path: self.file.path().to_path_buf(),
            msg,
        }
    }

    fn find(&self, name: &str) -> Option<&TensorInfo> {
        self.file.tensor(name)
    }

    fn get(&self, name: &str) -> Result<&TensorInfo> {
        self.find(name)
            .ok_or_else(|| self.bad(format!("missing tensor '{name}'")))
    }

    fn matrix(&self, name: &str, cols: usize, rows: Option<usize>) -> Result<Matrix> {
        let info = self.get(name)?;
        self.matrix_from(info, cols, rows)
    }

    fn matrix_from(&self, info: &TensorInfo, cols: usize, rows: Option<usize>) -> Result<Matrix> {
        let dims = &info.dims;
        let ok = dims.len() == 2
            && dims[0] as usize == cols
            && rows.is_none_or(|r| dims[1] as usize == r);
        if !ok {
            let want = match rows {
                Some(r) => format!("[{cols}, {r}]"),
                None => format!("[{cols}, n]"),
            };
            return Err(self.bad(format!(
                "tensor '{}' has shape {:?}, expected {want}",
                info.name, dims
            )));
        }
        Ok(Matrix {
            info: info.clone(),
            rows: dims[1] as usize,
            cols,
            first: 0,
            interleaved: None,
        })
    }

    /// `tensor` (`cols` wide, `parts.iter().sum()` rows) as consecutive matrices of
    /// `parts[i]` rows each, read in place (a fused projection).
    fn split(&self, name: &str, cols: usize, parts: &[usize]) -> Result<Vec<Matrix>> {
        let whole = self.matrix(name, cols, Some(parts.iter().sum()))?;
        let mut first = 0;
        Ok(parts
            .iter()
            .map(|&rows| {
                let m = Matrix {
                    rows,
                    first,
                    ..whole.clone()
                };
                first += rows;
                m
            })
            .collect())
    }

    /// A 1-D tensor copied out as f32 (norms and biases are small).
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let info = self.get(name)?;
        self.vector_from(info, len)
    }

    fn vector_from(&self, info: &TensorInfo, len: usize) -> Result<Vec<f32>> {
        if info.dims.len() != 1 || info.dims[0] as usize != len {
            return Err(self.bad(format!(
                "tensor '{}' has shape {:?}, expected [{len}]",
                info.name, info.dims
            )));
        }
        if info.ty.is_quantized() {
            return Err(self.bad(format!(
                "tensor '{}' is {}, expected F32, F16 or BF16",
                info.name, info.ty
            )));
        }
        let mut out = vec![0.0; len];
        dequantize_row(info.ty, self.file.tensor_data(info), &mut out);
        // Norm weights, biases and RoPE factors: one NaN or infinity poisons every
        // activation after it, so it is refused here rather than found as NaN logits.
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(self.bad(format!(
                "tensor '{}' has a non-finite value ({}) at element {i}",
                info.name, out[i]
            )));
        }
        Ok(out)
    }

    fn optional_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>> {
        self.find(name)
            .map(|info| self.vector_from(info, len))
            .transpose()
    }
}

impl ModelWeights {
    pub fn load(file: &GgufFile, c: &ModelConfig) -> Result<ModelWeights> {
        let l = Loader { file };
        let token_embd = l.matrix("token_embd.weight", c.n_embd, None)?;
        let vocab_size = token_embd.rows;
        let (output, output_is_tied) = match l.find("output.weight") {
            Some(info) => (l.matrix_from(info, c.n_embd, Some(vocab_size))?, false),
            None => (token_embd.clone(), true),
        };
        let rope_freqs = l.optional_vector("rope_freqs.weight", c.n_rot / 2)?;
        // Each factor divides a frequency: zero or a negative one is no scaling at all.
        if let Some(i) = rope_freqs.iter().flatten().position(|&v| v <= 0.0) {
            return Err(l.bad(format!(
                "tensor 'rope_freqs.weight' has {} at element {i}, not a positive factor",
                rope_freqs.as_ref().map_or(0.0, |r| r[i])
            )));
        }
        // Phi-3's 128k models: RoPE factors chosen by context length, and an attention
        // scale besides; not implemented, so refused rather than run wrongly.
        for name in ["rope_factors_long.weight", "rope_factors_short.weight"] {
            if l.find(name).is_some() {
                return Err(l.bad(format!(
                    "tensor '{name}': LongRoPE scaling (Phi-3 128k models) is not supported yet"
                )));
            }
        }
        let mut layers = Vec::new();
        for i in 0..c.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let bias = |s: &str, len: usize| -> Result<Option<Vec<f32>>> {
                match c.arch.qkv_bias {
                    Presence::Required => l.vector(&n(s), len).map(Some),
                    Presence::Optional => l.optional_vector(&n(s), len),
                }
            };
            // Norms the architecture has, each required there.
            let norm = |has: bool, s: &str, len: usize| -> Result<Option<Vec<f32>>> {
                has.then(|| l.vector(&n(s), len)).transpose()
            };
            let layer_norm = c.arch.norm == Norm::Layer;
            let (gate, up) = if c.arch.fused_gate_up {
                let mut m = l.split(&n("ffn_up.weight"), c.n_embd, &[c.n_ff, c.n_ff])?;
                let up = m.pop().unwrap();
                (m.pop(), up)
            } else {
                let gate = c.arch.ffn.gated();
                (
                    gate.then(|| l.matrix(&n("ffn_gate.weight"), c.n_embd, Some(c.n_ff)))
                        .transpose()?,
                    l.matrix(&n("ffn_up.weight"), c.n_embd, Some(c.n_ff))?,
                )
            };
            let (q, kv) = (c.q_dim(), c.kv_dim());
            let (wq, wk, wv, bq, bk, bv) = if c.arch.fused_qkv {
                let mut m = l.split(&n("attn_qkv.weight"), c.n_embd, &[q, kv, kv])?;
                let (wv, wk, wq) = (m.pop().unwrap(), m.pop().unwrap(), m.pop().unwrap());
                let b = bias("attn_qkv.bias", q + 2 * kv)?;
                let part = |r: std::ops::Range<usize>| b.as_ref().map(|b| b[r].to_vec());
                (
                    wq,
                    wk,
                    wv,
                    part(0..q),
                    part(q..q + kv),
                    part(q + kv..q + 2 * kv),
                )
            } else {
                (
                    l.matrix(&n("attn_q.weight"), c.n_embd, Some(q))?,
                    l.matrix(&n("attn_k.weight"), c.n_embd, Some(kv))?,
                    l.matrix(&n("attn_v.weight"), c.n_embd, Some(kv))?,
                    bias("attn_q.bias", q)?,
                    bias("attn_k.bias", kv)?,
                    bias("attn_v.bias", kv)?,
                )
            };
            layers.push(Layer {
                attn_norm: l.vector(&n("attn_norm.weight"), c.n_embd)?,
                attn_norm_b: norm(layer_norm, "attn_norm.bias", c.n_embd)?,
                wq,
                wk,
                wv,
                wo: l.matrix(&n("attn_output.weight"), c.q_dim(), Some(c.n_embd))?,
                bq,
                bk,
                bv,
                q_norm: norm(c.arch.qk_norm, "attn_q_norm.weight", c.head_dim)?,
                k_norm: norm(c.arch.qk_norm, "attn_k_norm.weight", c.head_dim)?,
                post_attn_norm: norm(c.arch.post_norms, "post_attention_norm.weight", c.n_embd)?,
                post_ffn_norm: norm(c.arch.post_norms, "post_ffw_norm.weight", c.n_embd)?,
                ffn_norm: l.vector(&n("ffn_norm.weight"), c.n_embd)?,
                ffn_norm_b: norm(layer_norm, "ffn_norm.bias", c.n_embd)?,
                bo: l.optional_vector(&n("attn_output.bias"), c.n_embd)?,
                b_up: l.optional_vector(&n("ffn_up.bias"), c.n_ff)?,
                b_down: l.optional_vector(&n("ffn_down.bias"), c.n_embd)?,
                gate,
                up,
                down: l.matrix(&n("ffn_down.weight"), c.n_ff, Some(c.n_embd))?,
            });
        }
        let position_embd = match c.arch.rope {
            Some(_) => None,
            None => {
                let pe = l.matrix("position_embd.weight", c.n_embd, None)?;
                // Every position the context allows needs a row.
                if pe.rows < c.n_ctx_train {
                    return Err(l.bad(format!(
                        "position_embd.weight has {} positions, fewer than the context length {}",
                        pe.rows, c.n_ctx_train
                    )));
                }
                Some(pe)
            }
        };
        Ok(ModelWeights {
            token_embd,
            position_embd,
            output_norm: l.vector("output_norm.weight", c.n_embd)?,
            output_norm_b: (c.arch.norm == Norm::Layer)
                .then(|| l.vector("output_norm.bias", c.n_embd))
                .transpose()?,
            output,
            output_is_tied,
            rope_freqs,
            layers,
            vocab_size,
        })
    }

    /// The matrices the CPU kernels multiply by.
    fn matrices(&self) -> impl Iterator<Item = &Matrix> {
        let layers = self.layers.iter().flat_map(Layer::matrices);
        layers.chain([&self.output])
    }

    /// Rearranges the matrices the CPU kernels multiply by where this CPU's kernels
    /// read another layout faster (Q4_0 and Q8_0 on Arm cores with dotprod, as ggml's
    /// repack does), releasing the mapped pages they were copied from.
    pub fn interleave_for_cpu(&mut self, file: &GgufFile) {
        let layers = self.layers.iter_mut().flat_map(Layer::matrices_mut);
        for m in layers.chain([&mut self.output]) {
            if let Some(data) = interleave(&m.view(file)) {
                m.interleaved = Some(data.into());
            }
        }
        // After all of them: the parts of a fused tensor share its pages.
        for info in self.copied_tensors() {
            file.release(info);
        }
    }

    /// The tensors the CPU kernels read from a copy, not from the map.
    pub fn copied_tensors(&self) -> Vec<&TensorInfo> {
        let mut infos: Vec<&TensorInfo> = self
            .matrices()
            .filter(|m| m.interleaved.is_some())
            .map(|m| &m.info)
            .collect();
        // Once each, though a fused tensor's parts are copied one by one.
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos.dedup_by(|a, b| a.name == b.name);
        infos
    }

    /// Bytes of weights held in memory besides the map.
    pub fn copied_bytes(&self) -> usize {
        self.matrices().map(Matrix::copied_bytes).sum()
    }

    /// Types of the weight matrices, for reports.
    pub fn matrix_types(&self) -> Vec<GgmlType> {
        let mut tys = vec![self.token_embd.info.ty, self.output.info.ty];
        for l in &self.layers {
            for m in l.matrices() {
                tys.push(m.info.ty);
            }
        }
        tys.sort_by_key(|t| t.id());
        tys.dedup();
        tys
    }
}
