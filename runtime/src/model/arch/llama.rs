//! Llama 2/3, SmolLM, TinyLlama, Mistral-style models.

use super::hf_names::{DECODER_ATTN, DECODER_GLOBAL, DECODER_MLP, DECODER_NORMS, LM_HEAD};
use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "llama",
    hf_names: &[
        DECODER_GLOBAL,
        LM_HEAD,
        DECODER_NORMS,
        DECODER_ATTN,
        DECODER_MLP,
    ],
    hf_classes: &["LlamaForCausalLM", "MistralForCausalLM"],
    rope: Some(RopeStyle::Interleaved),
    norm: Norm::Rms,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: Presence::Optional,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Silu,
    scale_embeddings: false,
    sliding_window: None,
};
