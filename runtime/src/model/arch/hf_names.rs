//! Hugging Face tensor names of each architecture's checkpoints and the GGUF names
//! llama.cpp's converter gives them, as tables the specs list (the compressor reads
//! them; the runtime itself never sees an HF name). `{L}` stands for the layer number;
//! a module's `.weight` and `.bias` map to the GGUF name's.

/// How a Hugging Face weight is stored relative to the GGUF tensor (biases are always
/// stored as they are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HfLayout {
    /// The same values, row for row.
    Same,
    /// GPT-2's `Conv1D`: `[in, out]` in the checkpoint, transposed to `[out, in]` rows.
    Transposed,
    /// Gemma's RMSNorm multiplies by `1 + w`: the GGUF stores `w + 1`.
    PlusOne,
}

/// One module (or, with an empty `gguf`, one tensor that is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HfName {
    /// The module's name (`model.layers.{L}.self_attn.q_proj`); for a dropped tensor,
    /// its full name.
    pub hf: &'static str,
    /// The GGUF tensor name without `.weight`/`.bias` (`blk.{L}.attn_q`); empty: the
    /// converter drops the tensor.
    pub gguf: &'static str,
    pub layout: HfLayout,
}

const fn n(hf: &'static str, gguf: &'static str) -> HfName {
    HfName {
        hf,
        gguf,
        layout: HfLayout::Same,
    }
}

const fn plus_one(hf: &'static str, gguf: &'static str) -> HfName {
    HfName {
        hf,
        gguf,
        layout: HfLayout::PlusOne,
    }
}

const fn conv1d(hf: &'static str, gguf: &'static str) -> HfName {
    HfName {
        hf,
        gguf,
        layout: HfLayout::Transposed,
    }
}

/// Embedding, final norm and output head of the `model.*` decoders.
pub const DECODER_GLOBAL: &[HfName] = &[
    n("model.embed_tokens", "token_embd"),
    n("model.norm", "output_norm"),
];

/// Separate q/k/v/o projections.
pub const DECODER_ATTN: &[HfName] = &[
    n("model.layers.{L}.self_attn.q_proj", "blk.{L}.attn_q"),
    n("model.layers.{L}.self_attn.k_proj", "blk.{L}.attn_k"),
    n("model.layers.{L}.self_attn.v_proj", "blk.{L}.attn_v"),
    n("model.layers.{L}.self_attn.o_proj", "blk.{L}.attn_output"),
    n("model.layers.{L}.self_attn.rotary_emb.inv_freq", ""),
];

/// The pre-attention and pre-feed-forward norms of llama-style blocks.
pub const DECODER_NORMS: &[HfName] = &[
    n("model.layers.{L}.input_layernorm", "blk.{L}.attn_norm"),
    n(
        "model.layers.{L}.post_attention_layernorm",
        "blk.{L}.ffn_norm",
    ),
];

/// Per-head q/k RMSNorms (Qwen3).
pub const QK_NORMS: &[HfName] = &[
    n("model.layers.{L}.self_attn.q_norm", "blk.{L}.attn_q_norm"),
    n("model.layers.{L}.self_attn.k_norm", "blk.{L}.attn_k_norm"),
];

/// The gated feed-forward.
pub const DECODER_MLP: &[HfName] = &[
    n("model.layers.{L}.mlp.gate_proj", "blk.{L}.ffn_gate"),
    n("model.layers.{L}.mlp.up_proj", "blk.{L}.ffn_up"),
    n("model.layers.{L}.mlp.down_proj", "blk.{L}.ffn_down"),
];

/// The output head, where the converter keeps it.
pub const LM_HEAD: &[HfName] = &[n("lm_head", "output")];

/// Gemma 2's converter drops `lm_head` (the model is always tied).
pub const NO_LM_HEAD: &[HfName] = &[n("lm_head.weight", "")];

/// Gemma 2/3: every norm stored `+1`, four per block, q/k norms (only Gemma 3's
/// checkpoints have them).
pub const GEMMA: &[HfName] = &[
    n("model.embed_tokens", "token_embd"),
    plus_one("model.norm", "output_norm"),
    plus_one("model.layers.{L}.input_layernorm", "blk.{L}.attn_norm"),
    plus_one(
        "model.layers.{L}.post_attention_layernorm",
        "blk.{L}.post_attention_norm",
    ),
    plus_one(
        "model.layers.{L}.pre_feedforward_layernorm",
        "blk.{L}.ffn_norm",
    ),
    plus_one(
        "model.layers.{L}.post_feedforward_layernorm",
        "blk.{L}.post_ffw_norm",
    ),
    plus_one("model.layers.{L}.self_attn.q_norm", "blk.{L}.attn_q_norm"),
    plus_one("model.layers.{L}.self_attn.k_norm", "blk.{L}.attn_k_norm"),
];

/// Phi-3: fused q/k/v and gate/up projections.
pub const PHI3: &[HfName] = &[
    n("model.layers.{L}.self_attn.qkv_proj", "blk.{L}.attn_qkv"),
    n("model.layers.{L}.self_attn.o_proj", "blk.{L}.attn_output"),
    n("model.layers.{L}.mlp.gate_up_proj", "blk.{L}.ffn_up"),
    n("model.layers.{L}.mlp.down_proj", "blk.{L}.ffn_down"),
];

/// GPT-2 (`GPT2LMHeadModel`): Conv1D projections, learned positions; the causal-mask
/// buffers some checkpoints carry are dropped.
pub const GPT2: &[HfName] = &[
    n("transformer.wte", "token_embd"),
    n("transformer.wpe", "position_embd"),
    n("transformer.ln_f", "output_norm"),
    n("lm_head", "output"),
    n("transformer.h.{L}.ln_1", "blk.{L}.attn_norm"),
    conv1d("transformer.h.{L}.attn.c_attn", "blk.{L}.attn_qkv"),
    conv1d("transformer.h.{L}.attn.c_proj", "blk.{L}.attn_output"),
    n("transformer.h.{L}.ln_2", "blk.{L}.ffn_norm"),
    conv1d("transformer.h.{L}.mlp.c_fc", "blk.{L}.ffn_up"),
    conv1d("transformer.h.{L}.mlp.c_proj", "blk.{L}.ffn_down"),
    n("transformer.h.{L}.attn.bias", ""),
    n("transformer.h.{L}.attn.masked_bias", ""),
];

/// What an HF tensor name becomes under `tables`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HfMapped {
    /// The GGUF tensor name and the stored layout (`Same` for biases).
    Tensor(String, HfLayout),
    /// A tensor the converter drops.
    Skip,
    /// Not part of the architecture.
    Unknown,
}

/// The layer number where `pattern` has `{L}` and the rest of `name` matches it.
fn match_pattern(pattern: &str, name: &str) -> Option<Option<u32>> {
    match pattern.split_once("{L}") {
        None => (pattern == name).then_some(None),
        Some((pre, post)) => {
            let rest = name.strip_prefix(pre)?;
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (num, tail) = rest.split_at(digits);
            if num.is_empty() || tail != post || (num.len() > 1 && num.starts_with('0')) {
                return None;
            }
            num.parse().ok().map(Some)
        }
    }
}

/// Maps an HF tensor name through `tables` (the spec's `hf_names`).
pub fn hf_to_gguf(tables: &[&[HfName]], name: &str) -> HfMapped {
    for e in tables.iter().flat_map(|t| t.iter()) {
        if e.gguf.is_empty() {
            if match_pattern(e.hf, name).is_some() {
                return HfMapped::Skip;
            }
            continue;
        }
        for (suffix, layout) in [("weight", e.layout), ("bias", HfLayout::Same)] {
            let Some(module) = name.strip_suffix(suffix).and_then(|m| m.strip_suffix('.')) else {
                continue;
            };
            if let Some(layer) = match_pattern(e.hf, module) {
                let g = match layer {
                    Some(l) => e.gguf.replace("{L}", &l.to_string()),
                    None => e.gguf.to_string(),
                };
                return HfMapped::Tensor(format!("{g}.{suffix}"), layout);
            }
        }
    }
    HfMapped::Unknown
}

/// The HF name of GGUF tensor `gguf` under `tables` (for LoRA adapters on GGUF input).
pub fn gguf_to_hf(tables: &[&[HfName]], gguf: &str) -> Option<String> {
    let (base, suffix) = gguf.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    for e in tables.iter().flat_map(|t| t.iter()) {
        if e.gguf.is_empty() {
            continue;
        }
        if let Some(layer) = match_pattern(e.gguf, base) {
            let h = match layer {
                Some(l) => e.hf.replace("{L}", &l.to_string()),
                None => e.hf.to_string(),
            };
            return Some(format!("{h}.{suffix}"));
        }
    }
    None
}

/// The HF module names under `tables` for layer 0 and the global ones (for messages
/// listing what a model has).
pub fn hf_modules(tables: &[&[HfName]]) -> Vec<String> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .filter(|e| !e.gguf.is_empty())
        .map(|e| e.hf.replace("{L}", "0"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        let t: &[&[HfName]] = &[DECODER_GLOBAL, LM_HEAD, DECODER_ATTN, DECODER_MLP, GPT2];
        assert_eq!(
            hf_to_gguf(t, "model.layers.12.self_attn.q_proj.bias"),
            HfMapped::Tensor("blk.12.attn_q.bias".into(), HfLayout::Same)
        );
        assert_eq!(
            hf_to_gguf(t, "transformer.h.3.mlp.c_fc.weight"),
            HfMapped::Tensor("blk.3.ffn_up.weight".into(), HfLayout::Transposed)
        );
        assert_eq!(
            hf_to_gguf(t, "transformer.h.3.mlp.c_fc.bias"),
            HfMapped::Tensor("blk.3.ffn_up.bias".into(), HfLayout::Same)
        );
        assert_eq!(hf_to_gguf(t, "transformer.h.0.attn.bias"), HfMapped::Skip);
        assert_eq!(
            hf_to_gguf(t, "model.layers.x.mlp.up_proj.weight"),
            HfMapped::Unknown
        );
        assert_eq!(
            hf_to_gguf(t, "model.layers.01.mlp.up_proj.weight"),
            HfMapped::Unknown
        );
        assert_eq!(
            hf_to_gguf(t, "model.layers.99999999999.mlp.up_proj.weight"),
            HfMapped::Unknown
        );
        assert_eq!(
            gguf_to_hf(t, "blk.7.ffn_down.weight").as_deref(),
            Some("model.layers.7.mlp.down_proj.weight")
        );
        assert_eq!(
            gguf_to_hf(t, "output.weight").as_deref(),
            Some("lm_head.weight")
        );
        let g: &[&[HfName]] = &[GEMMA];
        assert_eq!(
            hf_to_gguf(g, "model.norm.weight"),
            HfMapped::Tensor("output_norm.weight".into(), HfLayout::PlusOne)
        );
    }
}
