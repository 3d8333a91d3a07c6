//! Llama 2/3, SmolLM, TinyLlama, Mistral-style models.

use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "llama",
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
