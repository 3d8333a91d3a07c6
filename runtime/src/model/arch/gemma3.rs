//! Gemma 3 (text): q/k norms, norms after attention and feed-forward as well as
//! before, GeGLU, embeddings scaled by √d, and five local (sliding-window) layers
//! for every global one. llama.cpp's converter stores Gemma's norm weights with
//! their +1 already added, so they are plain RMSNorm weights here. The local
//! layers' RoPE base is fixed at 10,000 (it is not in the file), as in llama.cpp.

use super::hf_names::{DECODER_ATTN, DECODER_MLP, GEMMA, LM_HEAD};
use super::{Arch, Ffn, Norm, Presence, RopeStyle, SlidingWindow};

pub const SPEC: Arch = Arch {
    name: "gemma3",
    hf_names: &[GEMMA, LM_HEAD, DECODER_ATTN, DECODER_MLP],
    hf_classes: &["Gemma3ForCausalLM"],
    rope: Some(RopeStyle::Neox),
    norm: Norm::Rms,
    fused_qkv: false,
    fused_gate_up: false,
    qkv_bias: Presence::Optional,
    qk_norm: true,
    post_norms: true,
    ffn: Ffn::GeluTanh,
    scale_embeddings: true,
    sliding_window: Some(SlidingWindow {
        global_every: 6,
        local_rope_base: Some(10_000.0),
    }),
};
