//! Phi-3 / Phi-3.5 mini (4k context): the llama blocks with NeoX RoPE, one fused
//! `attn_qkv` projection and one fused gate/up projection, each read in place as row
//! ranges. llama.cpp runs Phi-3 without its configured sliding window, and so do we.
//! The 128k models' LongRoPE factors are refused at load (not supported yet).

use super::hf_names::{DECODER_GLOBAL, DECODER_NORMS, LM_HEAD, PHI3};
use super::{Arch, Ffn, Norm, Presence, RopeStyle};

pub const SPEC: Arch = Arch {
    name: "phi3",
    hf_names: &[DECODER_GLOBAL, LM_HEAD, DECODER_NORMS, PHI3],
    hf_classes: &["Phi3ForCausalLM"],
    rope: Some(RopeStyle::Neox),
    norm: Norm::Rms,
    fused_qkv: true,
    fused_gate_up: true,
    qkv_bias: Presence::Optional,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Silu,
    scale_embeddings: false,
    sliding_window: None,
};
