//! Hyper-parameters of a model, read from GGUF metadata (`{arch}.*` keys).

use super::arch::{self, Arch};
use crate::error::{Error, Result};
use crate::gguf::GgufFile;

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: &'static Arch,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Dimensions of each head that RoPE rotates.
    pub n_rot: usize,
    pub rope_base: f32,
    /// Linear RoPE scaling: positions times this (1 / `rope.scaling.factor`); 1 when the
    /// file has none. Local (sliding-window) layers of Gemma 3 are not scaled.
    pub rope_freq_scale: f32,
    /// The norms' epsilon (RMSNorm or LayerNorm, as the architecture has).
    pub rms_eps: f32,
    /// Positions a local layer attends over, for architectures with sliding-window
    /// layers (`attention.sliding_window`).
    pub window: Option<usize>,
    /// Soft-capping of attention scores and of the final logits (`attn_logit_softcapping`,
    /// `final_logit_softcapping`: Gemma 2), where the file sets them.
    pub attn_softcap: Option<f32>,
    pub final_softcap: Option<f32>,
    /// Context length the model was trained for.
    pub n_ctx_train: usize,
}

impl ModelConfig {
    pub fn from_gguf(f: &GgufFile) -> Result<ModelConfig> {
        let bad = |msg: String| Error::Model {
            path: f.path().to_path_buf(),
            msg,
        };
        let arch_name = f
            .get_str("general.architecture")?
            .ok_or_else(|| bad("missing general.architecture".into()))?;
        let arch = arch::find(arch_name).ok_or_else(|| {
            bad(format!(
                "unsupported architecture '{arch_name}' (supported: {})",
                arch::names().join(", ")
            ))
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let required = |k: &str| -> Result<usize> {
            match f.get_u32(&key(k))? {
                Some(0) => Err(bad(format!("{} is 0", key(k)))),
                Some(v) => Ok(v as usize),
                None => Err(bad(format!("missing {}", key(k)))),
            }
        };
        let n_layer = required("block_count")?;
        let n_embd = required("embedding_length")?;
        let n_ff = required("feed_forward_length")?;
        let n_head = required("attention.head_count")?;
        let n_head_kv = match f.get_u32(&key("attention.head_count_kv"))? {
            Some(v) => v as usize,
            None => n_head,
        };
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(bad(format!(
                "{} heads cannot be grouped over {n_head_kv} KV heads",
                n_head
            )));
        }
        let head_dim = match f.get_u32(&key("attention.key_length"))? {
            Some(v) => v as usize,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(bad(format!(
                    "embedding {n_embd} is not a multiple of {n_head} heads"
                )))
            }
        };
        let n_rot = f
            .get_u32(&key("rope.dimension_count"))?
            .map_or(head_dim, |v| v as usize);
        if n_rot == 0 || n_rot > head_dim || n_rot % 2 != 0 || head_dim == 0 {
            return Err(bad(format!(
                "rope.dimension_count {n_rot} does not fit head size {head_dim}"
            )));
        }
        let eps_key = match arch.norm {
            super::arch::Norm::Rms => "attention.layer_norm_rms_epsilon",
            super::arch::Norm::Layer => "attention.layer_norm_epsilon",
        };
        let rms_eps = f.get_f32(&key(eps_key))?.unwrap_or(1e-5);
        if !(rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(bad(format!(
                "{} is {rms_eps}, not a small non-negative number",
                key(eps_key)
            )));
        }
        let rope_base = f.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        if !(rope_base.is_finite() && rope_base > 0.0) {
            return Err(bad(format!(
                "{} is {rope_base}, not a positive number",
                key("rope.freq_base")
            )));
        }
        // Every layer needs tensors of its own: a count beyond the file's tensors is
        // corrupt, and must not size anything.
        if n_layer > f.tensors().len() {
            return Err(bad(format!(
                "{} is {n_layer}, but the file holds only {} tensors",
                key("block_count"),
                f.tensors().len()
            )));
        }
        // Required, as llama.cpp requires it: the default context is sized from it.
        let n_ctx_train = required("context_length")?;
        let rope_freq_scale = check_rope_scaling(f, &key, &bad)?;
        let window = match arch.sliding_window {
            Some(_) => Some(required("attention.sliding_window")?),
            None => None,
        };
        let cap = |k: &str| -> Result<Option<f32>> {
            match f.get_f32(&key(k))? {
                Some(c) if !(c.is_finite() && c >= 0.0) => {
                    Err(bad(format!("{} is {c}, not a cap", key(k))))
                }
                c => Ok(c.filter(|&c| c > 0.0)),
            }
        };
        let (attn_softcap, final_softcap) = (
            cap("attn_logit_softcapping")?,
            cap("final_logit_softcapping")?,
        );
        Ok(ModelConfig {
            arch,
            n_layer,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            rope_base,
            rope_freq_scale,
            rms_eps,
            window,
            attn_softcap,
            final_softcap,
            n_ctx_train,
        })
    }

    /// The window layer `li` attends over, if it is a local layer.
    pub fn layer_window(&self, li: usize) -> Option<usize> {
        let local = self.arch.sliding_window.is_some_and(|w| w.is_local(li));
        self.window.filter(|_| local)
    }

    /// Width of the query projection (`n_head * head_dim`).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of one cached key or value row (`n_head_kv * head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

/// RoPE scaling (`rope.scaling.type` / `.factor`) changes every angle; only "none" (or a
/// factor of 1) is implemented, so anything else is refused rather than run wrongly.
/// The linear scale of the file's RoPE scaling (1 for none); other kinds are refused.
fn check_rope_scaling(
    f: &GgufFile,
    key: &dyn Fn(&str) -> String,
    bad: &dyn Fn(String) -> Error,
) -> Result<f32> {
    let ty = f.get_str(&key("rope.scaling.type"))?.unwrap_or("none");
    let factor = f.get_f32(&key("rope.scaling.factor"))?;
    if let Some(v) = factor {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(format!(
                "{} is {v}, not a positive number",
                key("rope.scaling.factor")
            )));
        }
    }
    match (ty, factor) {
        ("none", _) | (_, Some(1.0)) => Ok(1.0),
        ("linear", Some(factor)) => Ok(1.0 / factor),
        (ty, factor) => Err(bad(format!(
            "RoPE scaling '{ty}' (factor {}) is not supported yet",
            factor.map_or("unset".to_string(), |v| v.to_string())
        ))),
    }
}
