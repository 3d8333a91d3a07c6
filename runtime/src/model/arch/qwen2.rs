//! Qwen2 and Qwen2.5: the llama blocks with q/k/v biases and NeoX RoPE.

use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "qwen2",
    hf_classes: &["Qwen2ForCausalLM"],
    rope: Some(RopeStyle::Neox),
    norm: Norm::Rms,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: Presence::Required,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Silu,
    scale_embeddings: false,
    sliding_window: None,
};
