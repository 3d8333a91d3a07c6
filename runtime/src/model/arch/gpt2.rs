//! GPT-2: learned absolute positions instead of RoPE, LayerNorm with biases, one
//! fused `attn_qkv` projection, a plain GELU feed-forward, and biases on every
//! projection.

use super::hf_names::GPT2;
use super::{Arch, Ffn, Norm, Presence};

pub const SPEC: Arch = Arch {
    name: "gpt2",
    hf_names: &[GPT2],
    hf_classes: &["GPT2LMHeadModel"],
    rope: None,
    norm: Norm::Layer,
    fused_qkv: true,
    fused_gate_up: false,
    qkv_bias: Presence::Required,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Gelu,
    scale_embeddings: false,
    sliding_window: None,
};
