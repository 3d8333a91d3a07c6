//! Llama 2/3, SmolLM, TinyLlama, Mistral-style models.

use super::{Arch, Ffn, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "llama",
    hf_classes: &["LlamaForCausalLM", "MistralForCausalLM"],
    rope: RopeStyle::Interleaved,
    qkv_bias: Presence::Optional,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Silu,
    scale_embeddings: false,
    sliding_window: None,
};
