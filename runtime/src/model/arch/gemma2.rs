//! Gemma 2: post-attention and post-feed-forward norms, GeGLU, embeddings scaled by
//! √d, a sliding window on every other layer (the same RoPE base on all), and
//! soft-capped attention scores and final logits (from the file's
//! `attn_logit_softcapping` and `final_logit_softcapping`). Norm weights carry their
//! +1 from llama.cpp's converter, as for Gemma 3.

use super::hf_names::{DECODER_ATTN, DECODER_MLP, GEMMA, NO_LM_HEAD};
use super::{Arch, Ffn, Norm, Presence, RopeStyle, SlidingWindow};

pub const SPEC: Arch = Arch {
    name: "gemma2",
    hf_names: &[GEMMA, NO_LM_HEAD, DECODER_ATTN, DECODER_MLP],
    hf_classes: &["Gemma2ForCausalLM"],
    rope: Some(RopeStyle::Neox),
    norm: Norm::Rms,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: Presence::Optional,
    qk_norm: false,
    post_norms: true,
    ffn: Ffn::GeluTanh,
    scale_embeddings: true,
    sliding_window: Some(SlidingWindow {
        global_every: 2,
        local_rope_base: None,
    }),
};
