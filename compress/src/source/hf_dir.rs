//! A Hugging Face model directory as the compressor's input: `config.json` and
//! `tokenizer.json` become GGUF metadata, safetensors tensors get GGUF names, and the
//! set of tensors is checked against the config before any work starts.

use std::collections::HashSet;
use std::path::Path;

use safetensors::tensor::Dtype;

use edgelm_kernels::cpu::ops::RopeStyle;
use edgelm_runtime::model::arch::hf_names::{hf_to_gguf, HfMapped};
use edgelm_runtime::model::arch::{Ffn, Norm};

use super::names;
use super::safetensors::SafetensorsSet;
use super::{Checkpoint, HfLayout, Loc, SourceTensor};
use crate::hf::{model_name, tokenizer_metadata, HfConfig};
use crate::CompressError;

pub(super) fn open(dir: &Path) -> Result<Checkpoint, CompressError> {
    let config = HfConfig::load(dir)?;
    let set = SafetensorsSet::open_dir(dir)?;
    let (n_head, n_kv) = (
        config.num_attention_heads as u64,
        config.num_key_value_heads as u64,
    );
    let (hidden, hd) = (config.hidden_size as u64, config.head_dim as u64);
    let (ffn, vocab) = (config.intermediate_size as u64, config.vocab_size as u64);
    let spec = config.arch.spec();
    let qkv = (n_head + 2 * n_kv) * hd;
    let ffn_up = if spec.fused_gate_up { 2 * ffn } else { ffn };
    let mut tensors = Vec::new();
    for (i, e) in set.entries().iter().enumerate() {
        let path = set.shard_path(e);
        let (name, layout) = match hf_to_gguf(spec.hf_names, &e.name) {
            HfMapped::Tensor(n, l) => (n, l),
            HfMapped::Skip => continue,
            HfMapped::Unknown => {
                return Err(CompressError::input(
                    path,
                    format!(
                        "tensor '{}' is not part of a {} decoder as edgelm-compress knows it",
                        e.name, config.hf_architecture
                    ),
                ))
            }
        };
        if name == "output.weight" && config.tie_word_embeddings {
            continue; // the same matrix as token_embd
        }
        // GGUF lists dimensions innermost first.
        let dims: Vec<u64> = e.shape.iter().rev().map(|&d| d as u64).collect();
        let part = name
            .strip_prefix("blk.")
            .map_or(name.as_str(), |r| r.split_once('.').map_or(r, |(_, p)| p));
        let expected: Vec<u64> = match part {
            "token_embd.weight" | "output.weight" => vec![hidden, vocab],
            "attn_norm.weight" | "ffn_norm.weight" | "output_norm.weight" => vec![hidden],
            "attn_norm.bias" | "ffn_norm.bias" | "output_norm.bias" => vec![hidden],
            "post_attention_norm.weight" | "post_ffw_norm.weight" => vec![hidden],
            "attn_q_norm.weight" | "attn_k_norm.weight" => vec![hd],
            "attn_q.weight" => vec![hidden, n_head * hd],
            "attn_k.weight" | "attn_v.weight" => vec![hidden, n_kv * hd],
            "attn_qkv.weight" => vec![hidden, qkv],
            "attn_qkv.bias" => vec![qkv],
            "attn_output.weight" => vec![n_head * hd, hidden],
            "attn_output.bias" | "ffn_down.bias" => vec![hidden],
            "attn_q.bias" => vec![n_head * hd],
            "attn_k.bias" | "attn_v.bias" => vec![n_kv * hd],
            "ffn_gate.weight" => vec![hidden, ffn],
            "ffn_up.weight" => vec![hidden, ffn_up],
            "ffn_up.bias" => vec![ffn_up],
            "ffn_down.weight" => vec![ffn, hidden],
            "position_embd.weight" => vec![hidden, config.max_position_embeddings as u64],
            _ => dims.clone(),
        };
        // A Conv1D stores [in, out]: the GGUF tensor is its transpose.
        let stored: Vec<u64> = match layout {
            HfLayout::Transposed if dims.len() == 2 => vec![dims[1], dims[0]],
            _ => dims.clone(),
        };
        let dims = stored;
        if dims != expected {
            return Err(CompressError::input(
                path,
                format!(
                    "tensor '{}' has shape {:?}, config.json implies {:?}",
                    e.name,
                    e.shape,
                    expected.iter().rev().collect::<Vec<_>>()
                ),
            ));
        }
        if names::layer_of(&name).is_some_and(|l| l >= config.num_hidden_layers as usize) {
            return Err(CompressError::input(
                path,
                format!(
                    "tensor '{}' is beyond num_hidden_layers = {}",
                    e.name, config.num_hidden_layers
                ),
            ));
        }
        // llama.cpp's `llama` rope pairs adjacent rows; HF's pairs halves (see names.rs).
        let interleaved = spec.rope == Some(RopeStyle::Interleaved);
        let rope_heads = match part {
            "attn_q.weight" | "attn_q.bias" if interleaved => Some(n_head as usize),
            "attn_k.weight" | "attn_k.bias" if interleaved => Some(n_kv as usize),
            _ => None,
        };
        if let Some(h) = rope_heads {
            names::check_rope_heads(&dims, h)
                .map_err(|msg| CompressError::input(path, format!("tensor '{}': {msg}", e.name)))?;
        }
        tensors.push(
            SourceTensor::new(
                name,
                Some(e.name.clone()),
                dims,
                dtype_name(e.dtype).to_string(),
                e.n_bytes() as u64,
                rope_heads,
                Loc::Stored(i),
            )
            .with_layout(layout),
        );
    }
    if let Some(freqs) = config.rope_freqs() {
        tensors.push(SourceTensor::new(
            "rope_freqs.weight".into(),
            None,
            vec![freqs.len() as u64],
            "F32".into(),
            freqs.len() as u64 * 4,
            None,
            Loc::Computed(freqs),
        ));
    }
    check_complete(dir, &config, &tensors)?;
    // Only now, with the tensors checked against config.json, is vocab_size known to be
    // what the file holds: the token list is sized from it.
    let mut metadata = config.metadata(&model_name(dir, config.name_or_path.as_deref()), 0);
    metadata.extend(tokenizer_metadata(dir, &config)?);
    tensors.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    Ok(Checkpoint::from_safetensors(
        dir.to_path_buf(),
        config.arch.gguf_name().to_string(),
        metadata,
        tensors,
        set,
    ))
}

fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "F32",
        Dtype::F16 => "F16",
        Dtype::BF16 => "BF16",
        _ => "other",
    }
}

/// Every tensor the architecture needs is present. The names are made one at a time: a
/// huge num_hidden_layers stops at the first missing layer instead of listing them all.
fn check_complete(
    dir: &Path,
    config: &HfConfig,
    tensors: &[SourceTensor],
) -> Result<(), CompressError> {
    let spec = config.arch.spec();
    let have: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let layer_norm = spec.norm == Norm::Layer;
    let mut global: Vec<&str> = vec!["token_embd.weight", "output_norm.weight"];
    if !config.tie_word_embeddings && spec.name != "gemma2" {
        global.push("output.weight");
    }
    if spec.rope.is_none() {
        global.push("position_embd.weight");
    }
    if layer_norm {
        global.push("output_norm.bias");
    }
    let mut parts: Vec<&str> = vec!["attn_norm", "attn_output", "ffn_norm", "ffn_up", "ffn_down"];
    if spec.fused_qkv {
        parts.push("attn_qkv");
    } else {
        parts.extend(["attn_q", "attn_k", "attn_v"]);
    }
    if spec.ffn != Ffn::Gelu && !spec.fused_gate_up {
        parts.push("ffn_gate");
    }
    if spec.qk_norm {
        parts.extend(["attn_q_norm", "attn_k_norm"]);
    }
    if spec.post_norms {
        parts.extend(["post_attention_norm", "post_ffw_norm"]);
    }
    let mut biases: Vec<&str> = Vec::new();
    if layer_norm {
        // GPT-2: a bias on every norm and projection.
        biases.extend([
            "attn_norm",
            "attn_qkv",
            "attn_output",
            "ffn_norm",
            "ffn_up",
            "ffn_down",
        ]);
    } else if config.attention_bias {
        biases.extend(["attn_q", "attn_k", "attn_v"]);
    }
    let (parts, biases) = (&parts, &biases);
    let blocks = (0..config.num_hidden_layers).flat_map(|l| {
        parts
            .iter()
            .map(move |p| format!("blk.{l}.{p}.weight"))
            .chain(biases.iter().map(move |b| format!("blk.{l}.{b}.bias")))
    });
    let missing = global
        .iter()
        .map(|n| n.to_string())
        .chain(blocks)
        .find(|n| !have.contains(n.as_str()));
    match missing {
        None => Ok(()),
        Some(n) => Err(CompressError::input(
            dir,
            format!(
                "the checkpoint has no '{}' (GGUF '{n}'), which config.json calls for",
                edgelm_runtime::model::arch::hf_names::gguf_to_hf(spec.hf_names, &n)
                    .unwrap_or_else(|| n.clone())
            ),
        )),
    }
}

/// The converter's order: computed tensors first, then the checkpoint's tensors in the
/// order of their Hugging Face names (a one-file checkpoint's safetensors order).
fn order_key(t: &SourceTensor) -> (bool, &str) {
    (t.hf_name.is_some(), t.hf_name.as_deref().unwrap_or(&t.name))
}
