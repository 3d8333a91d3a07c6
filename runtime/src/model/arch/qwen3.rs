//! Qwen3 (dense): the llama blocks with NeoX RoPE and an RMSNorm over each query and
//! key head before RoPE; no q/k/v biases.

use super::hf_names::{
    DECODER_ATTN, DECODER_GLOBAL, DECODER_MLP, DECODER_NORMS, LM_HEAD, QK_NORMS,
};
use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "qwen3",
    hf_names: &[
        DECODER_GLOBAL,
        LM_HEAD,
        DECODER_NORMS,
        QK_NORMS,
        DECODER_ATTN,
        DECODER_MLP,
    ],
    hf_classes: &["Qwen3ForCausalLM"],
    rope: Some(RopeStyle::Neox),
    norm: Norm::Rms,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: Presence::Optional,
    qk_norm: true,
    post_norms: false,
    ffn: Ffn::Silu,
    scale_embeddings: false,
    sliding_window: None,
};
