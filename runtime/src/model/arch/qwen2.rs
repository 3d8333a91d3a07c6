//! Qwen2 and Qwen2.5: the llama blocks with q/k/v biases and NeoX RoPE.

use super::hf_names::{DECODER_ATTN, DECODER_GLOBAL, DECODER_MLP, DECODER_NORMS, LM_HEAD};
use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "qwen2",
    hf_names: &[
        DECODER_GLOBAL,
        LM_HEAD,
        DECODER_NORMS,
        DECODER_ATTN,
        DECODER_MLP,
    ],
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
