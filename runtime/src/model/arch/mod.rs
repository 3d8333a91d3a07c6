//! What each architecture is, in one place: its GGUF name (also the prefix of its
//! metadata keys), the Hugging Face classes it comes from, and the building blocks its
//! layers use. The loader, the CPU forward pass and `edgelm info` read these specs;
//! adding an architecture is one file here (plus any new building block) and tests.

mod gemma2;
mod gemma3;
mod gpt2;
pub mod hf_names;
mod llama;
mod phi3;
mod qwen2;
mod qwen3;

use edgelm_kernels::cpu::ops::RopeStyle;

/// An architecture's description.
#[derive(Debug, PartialEq)]
pub struct Arch {
    /// `general.architecture`, and the prefix of the architecture's metadata keys.
    pub name: &'static str,
    /// Hugging Face `architectures` entries of the checkpoints it is converted from.
    pub hf_classes: &'static [&'static str],
    /// How those checkpoints' tensors are named, as tables of [`hf_names::HfName`]
    /// (read by the compressor).
    pub hf_names: &'static [&'static [hf_names::HfName]],
    /// How RoPE pairs the dimensions of a head; `None`: learned absolute position
    /// embeddings (`position_embd`, GPT-2) instead.
    pub rope: Option<RopeStyle>,
    /// The normalization before (and after) each block and before the output.
    pub norm: Norm,
    /// One `attn_qkv` tensor whose rows are the query, key and value projections
    /// (read in place as three row ranges), instead of three tensors.
    pub fused_qkv: bool,
    /// One `ffn_up` tensor holding the gate's rows, then the up projection's (Phi-3).
    pub fused_gate_up: bool,
    /// Biases on the query, key and value projections.
    pub qkv_bias: Presence,
    /// An RMSNorm over each query and key head before RoPE (`attn_q_norm`,
    /// `attn_k_norm`: Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// RMSNorms of the attention and feed-forward outputs before their residual adds
    /// (`post_attention_norm`, `post_ffw_norm`: Gemma 2 and 3).
    pub post_norms: bool,
    /// The gated feed-forward's activation.
    pub ffn: Ffn,
    /// Token embeddings are multiplied by √`embedding_length` (Gemma).
    pub scale_embeddings: bool,
    /// Sliding-window attention on some layers.
    pub sliding_window: Option<SlidingWindow>,
}

/// Whether an architecture's tensor is absent, optional or required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Optional,
    Required,
}

/// The feed-forward: gated, `down(act(gate(x)) * up(x))`, or plain, `down(act(up(x)))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ffn {
    /// Gated by SiLU (SwiGLU).
    Silu,
    /// Gated by GELU, tanh approximation (GeGLU).
    GeluTanh,
    /// Not gated: GELU (tanh approximation) of `up` (GPT-2).
    Gelu,
}

impl Ffn {
    /// Whether there is a `ffn_gate` projection.
    pub fn gated(self) -> bool {
        self != Ffn::Gelu
    }
}

/// A normalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// RMSNorm with a weight (`attention.layer_norm_rms_epsilon`).
    Rms,
    /// LayerNorm with a weight and a bias (`attention.layer_norm_epsilon`).
    Layer,
}

/// Layers that attend over a window of the last positions (from the file's
/// `attention.sliding_window`) between layers that see all of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlidingWindow {
    /// Every `global_every`-th layer (counting from 1) sees all positions; the others
    /// are local.
    pub global_every: usize,
    /// The RoPE base of the local layers, where it is not `rope.freq_base` (Gemma 3).
    pub local_rope_base: Option<f32>,
}

impl SlidingWindow {
    /// Whether layer `li` (from 0) attends over the window only.
    pub fn is_local(&self, li: usize) -> bool {
        !(li + 1).is_multiple_of(self.global_every)
    }
}

impl Arch {
    /// What `edgelm info` lists for this architecture.
    pub fn features(&self) -> Vec<String> {
        let mut f = vec![
            match self.rope {
                Some(r) => format!("RoPE {r:?}").to_lowercase(),
                None => "learned positions".into(),
            },
            match self.norm {
                Norm::Rms => "RMSNorm".into(),
                Norm::Layer => "LayerNorm".into(),
            },
            match self.ffn {
                Ffn::Silu => "SwiGLU".into(),
                Ffn::GeluTanh => "GeGLU (tanh)".into(),
                Ffn::Gelu => "GELU (tanh)".into(),
            },
        ];
        if self.fused_qkv {
            f.push("fused q/k/v".into());
        }
        if self.fused_gate_up {
            f.push("fused gate/up".into());
        }
        if self.qkv_bias == Presence::Required {
            f.push("q/k/v biases".into());
        }
        if self.qk_norm {
            f.push("q/k norms".into());
        }
        if self.post_norms {
            f.push("post-attention/feed-forward norms".into());
        }
        if self.scale_embeddings {
            f.push("embeddings × √d".into());
        }
        if let Some(w) = self.sliding_window {
            f.push(format!(
                "sliding window on {} of every {} layers",
                w.global_every - 1,
                w.global_every
            ));
        }
        f
    }
}

/// Every architecture the runtime runs.
pub const ARCHS: &[&Arch] = &[
    &llama::SPEC,
    &qwen2::SPEC,
    &qwen3::SPEC,
    &gemma2::SPEC,
    &gemma3::SPEC,
    &gpt2::SPEC,
    &phi3::SPEC,
];

/// The architecture named `name` in a GGUF file.
pub fn find(name: &str) -> Option<&'static Arch> {
    ARCHS.iter().copied().find(|a| a.name == name)
}

/// The architecture Hugging Face class `class` (`architectures[0]`) converts to.
pub fn find_hf(class: &str) -> Option<&'static Arch> {
    ARCHS
        .iter()
        .copied()
        .find(|a| a.hf_classes.contains(&class))
}

/// The names of [`ARCHS`], for messages.
pub fn names() -> Vec<&'static str> {
    ARCHS.iter().map(|a| a.name).collect()
}
