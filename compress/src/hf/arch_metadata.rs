//! The `<arch>.*` hyper-parameter keys (and `general.file_type`) convert_hf_to_gguf.py
//! writes for each architecture, in its order: most go through its generic
//! `TextModel.set_gguf_parameters`; Gemma 2, Phi-3 and GPT-2 have their own lists, and
//! Gemma 3 overwrites a few of the generic keys in place (a Python dict keeps the first
//! position) and adds its sliding window.

use edgelm_runtime::gguf::MetaValue;

use super::config::{Arch, HfConfig, RopeScaling};

type Meta = Vec<(String, MetaValue)>;

/// The keys between `general.name` and `general.quantization_version`.
pub(super) fn hparams(c: &HfConfig, file_type: u32) -> Meta {
    match c.arch {
        Arch::Llama | Arch::Qwen2 | Arch::Qwen3 => text_model(c, file_type),
        Arch::Gemma3 => gemma3(c, file_type),
        Arch::Gemma2 => gemma2(c, file_type),
        Arch::Phi3 => phi3(c, file_type),
        Arch::Gpt2 => gpt2(c, file_type),
    }
}

/// Sets `key`, in place when present.
fn set(out: &mut Meta, key: String, v: MetaValue) {
    match out.iter_mut().find(|(k, _)| *k == key) {
        Some(e) => e.1 = v,
        None => out.push((key, v)),
    }
}

/// `TextModel.set_gguf_parameters`, plus `LlamaModel`'s two extra keys.
fn text_model(c: &HfConfig, file_type: u32) -> Meta {
    let a = c.arch.gguf_name();
    let mut out: Meta = Vec::new();
    let mut put = |k: String, v: MetaValue| out.push((k, v));
    put(
        format!("{a}.block_count"),
        MetaValue::U32(c.num_hidden_layers),
    );
    put(
        format!("{a}.context_length"),
        MetaValue::U32(c.max_position_embeddings),
    );
    put(
        format!("{a}.embedding_length"),
        MetaValue::U32(c.hidden_size),
    );
    put(
        format!("{a}.feed_forward_length"),
        MetaValue::U32(c.intermediate_size),
    );
    put(
        format!("{a}.attention.head_count"),
        MetaValue::U32(c.num_attention_heads),
    );
    put(
        format!("{a}.attention.head_count_kv"),
        MetaValue::U32(c.num_key_value_heads),
    );
    match &c.rope_scaling {
        RopeScaling::None | RopeScaling::Llama3 { .. } => {}
        RopeScaling::Linear { factor } => {
            put(
                format!("{a}.rope.scaling.type"),
                MetaValue::String("linear".into()),
            );
            put(format!("{a}.rope.scaling.factor"), MetaValue::F32(*factor));
        }
        RopeScaling::Yarn {
            factor,
            original_context_length,
            ext_factor,
            attn_factor,
            beta_fast,
            beta_slow,
        } => {
            put(
                format!("{a}.rope.scaling.type"),
                MetaValue::String("yarn".into()),
            );
            put(format!("{a}.rope.scaling.factor"), MetaValue::F32(*factor));
            put(
                format!("{a}.rope.scaling.original_context_length"),
                MetaValue::U32(*original_context_length),
            );
            let optional = [
                ("yarn_ext_factor", ext_factor),
                ("yarn_attn_factor", attn_factor),
                ("yarn_beta_fast", beta_fast),
                ("yarn_beta_slow", beta_slow),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    put(format!("{a}.rope.scaling.{k}"), MetaValue::F32(*v));
                }
            }
        }
    }
    put(format!("{a}.rope.freq_base"), MetaValue::F32(c.rope_theta));
    if let Some(t) = c.rope_local_theta {
        put(format!("{a}.rope.freq_base_swa"), MetaValue::F32(t));
    }
    put(
        format!("{a}.attention.layer_norm_rms_epsilon"),
        MetaValue::F32(c.rms_norm_eps),
    );
    if let Some(eps) = c.layer_norm_eps {
        put(
            format!("{a}.attention.layer_norm_epsilon"),
            MetaValue::F32(eps),
        );
    }
    if c.head_dim_written {
        put(
            format!("{a}.attention.key_length"),
            MetaValue::U32(c.head_dim),
        );
        put(
            format!("{a}.attention.value_length"),
            MetaValue::U32(c.head_dim),
        );
    }
    put("general.file_type".into(), MetaValue::U32(file_type));
    if c.arch == Arch::Llama {
        put(format!("{a}.vocab_size"), MetaValue::U32(c.vocab_size));
        put(
            format!("{a}.rope.dimension_count"),
            MetaValue::U32(c.head_dim),
        );
    }
    out
}

/// `Gemma3Model.set_gguf_parameters`: the generic keys, some rewritten, then the window.
fn gemma3(c: &HfConfig, file_type: u32) -> Meta {
    let a = c.arch.gguf_name();
    let mut out = text_model(c, file_type);
    set(
        &mut out,
        format!("{a}.context_length"),
        MetaValue::U32(c.max_position_embeddings),
    );
    set(
        &mut out,
        format!("{a}.attention.head_count"),
        MetaValue::U32(c.num_attention_heads),
    );
    set(
        &mut out,
        format!("{a}.attention.layer_norm_rms_epsilon"),
        MetaValue::F32(c.rms_norm_eps),
    );
    for k in ["key_length", "value_length"] {
        set(
            &mut out,
            format!("{a}.attention.{k}"),
            MetaValue::U32(c.head_dim),
        );
    }
    set(
        &mut out,
        format!("{a}.rope.freq_base"),
        MetaValue::F32(c.rope_theta),
    );
    if let Some(cap) = c.final_logit_softcapping.filter(|&v| v != 0.0) {
        set(
            &mut out,
            format!("{a}.final_logit_softcapping"),
            MetaValue::F32(cap),
        );
    }
    if !c.sliding_window_pattern_one {
        if let Some(w) = c.sliding_window {
            set(
                &mut out,
                format!("{a}.attention.sliding_window"),
                MetaValue::U32(w),
            );
        }
    }
    set(
        &mut out,
        format!("{a}.attention.head_count_kv"),
        MetaValue::U32(c.num_key_value_heads),
    );
    out
}

/// `Gemma2Model.set_gguf_parameters` (no RoPE base: readers take 10000). Absent caps and
/// window take Gemma2Config's defaults.
fn gemma2(c: &HfConfig, file_type: u32) -> Meta {
    let a = c.arch.gguf_name();
    vec![
        (
            format!("{a}.context_length"),
            MetaValue::U32(c.max_position_embeddings),
        ),
        (
            format!("{a}.embedding_length"),
            MetaValue::U32(c.hidden_size),
        ),
        (
            format!("{a}.block_count"),
            MetaValue::U32(c.num_hidden_layers),
        ),
        (
            format!("{a}.feed_forward_length"),
            MetaValue::U32(c.intermediate_size),
        ),
        (
            format!("{a}.attention.head_count"),
            MetaValue::U32(c.num_attention_heads),
        ),
        (
            format!("{a}.attention.head_count_kv"),
            MetaValue::U32(c.num_key_value_heads),
        ),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            MetaValue::F32(c.rms_norm_eps),
        ),
        (
            format!("{a}.attention.key_length"),
            MetaValue::U32(c.head_dim),
        ),
        (
            format!("{a}.attention.value_length"),
            MetaValue::U32(c.head_dim),
        ),
        ("general.file_type".into(), MetaValue::U32(file_type)),
        (
            format!("{a}.attn_logit_softcapping"),
            MetaValue::F32(c.attn_logit_softcapping.unwrap_or(50.0)),
        ),
        (
            format!("{a}.final_logit_softcapping"),
            MetaValue::F32(c.final_logit_softcapping.unwrap_or(30.0)),
        ),
        (
            format!("{a}.attention.sliding_window"),
            MetaValue::U32(c.sliding_window.unwrap_or(4096)),
        ),
    ]
}

/// `Phi3MiniModel.set_gguf_parameters`; `original_max_position_embeddings` was checked
/// present when the config was read.
fn phi3(c: &HfConfig, file_type: u32) -> Meta {
    let a = c.arch.gguf_name();
    let rope_dims =
        (c.partial_rotary_factor * f64::from(c.hidden_size)) as u32 / c.num_attention_heads;
    vec![
        (
            format!("{a}.context_length"),
            MetaValue::U32(c.max_position_embeddings),
        ),
        (
            format!("{a}.rope.scaling.original_context_length"),
            MetaValue::U32(c.original_max_position_embeddings.unwrap_or(0)),
        ),
        (
            format!("{a}.embedding_length"),
            MetaValue::U32(c.hidden_size),
        ),
        (
            format!("{a}.feed_forward_length"),
            MetaValue::U32(c.intermediate_size),
        ),
        (
            format!("{a}.block_count"),
            MetaValue::U32(c.num_hidden_layers),
        ),
        (
            format!("{a}.attention.head_count"),
            MetaValue::U32(c.num_attention_heads),
        ),
        (
            format!("{a}.attention.head_count_kv"),
            MetaValue::U32(c.num_key_value_heads),
        ),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            MetaValue::F32(c.rms_norm_eps),
        ),
        (
            format!("{a}.rope.dimension_count"),
            MetaValue::U32(rope_dims),
        ),
        (format!("{a}.rope.freq_base"), MetaValue::F32(c.rope_theta)),
        ("general.file_type".into(), MetaValue::U32(file_type)),
        (
            format!("{a}.attention.sliding_window"),
            MetaValue::U32(c.sliding_window.unwrap_or(0)),
        ),
    ]
}

/// `GPT2Model.set_gguf_parameters`: the feed-forward is always 4 × n_embd.
fn gpt2(c: &HfConfig, file_type: u32) -> Meta {
    let a = c.arch.gguf_name();
    vec![
        (
            format!("{a}.block_count"),
            MetaValue::U32(c.num_hidden_layers),
        ),
        (
            format!("{a}.context_length"),
            MetaValue::U32(c.max_position_embeddings),
        ),
        (
            format!("{a}.embedding_length"),
            MetaValue::U32(c.hidden_size),
        ),
        (
            format!("{a}.feed_forward_length"),
            MetaValue::U32(c.intermediate_size),
        ),
        (
            format!("{a}.attention.head_count"),
            MetaValue::U32(c.num_attention_heads),
        ),
        (
            format!("{a}.attention.layer_norm_epsilon"),
            MetaValue::F32(c.layer_norm_eps.unwrap_or(1e-5)),
        ),
        ("general.file_type".into(), MetaValue::U32(file_type)),
    ]
}
