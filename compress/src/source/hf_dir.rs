//! A Hugging Face model directory as the compressor's input: `config.json` and
//! `tokenizer.json` become GGUF metadata, safetensors tensors get GGUF names, and the
//! set of tensors is checked against the config before any work starts.

use std::collections::HashSet;
use std::path::Path;

use safetensors::tensor::Dtype;

use super::names::{self, Mapped};
use super::safetensors::SafetensorsSet;
use super::{Checkpoint, Loc, SourceTensor};
use crate::hf::{default_model_name, tokenizer_metadata, Arch, HfConfig};
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
    let mut tensors = Vec::new();
    for (i, e) in set.entries().iter().enumerate() {
        let path = set.shard_path(e);
        let name = match names::to_gguf(&e.name) {
            Mapped::Tensor(n) => n,
            Mapped::Skip => continue,
            Mapped::Unknown => {
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
            "attn_q.weight" => vec![hidden, n_head * hd],
            "attn_k.weight" | "attn_v.weight" => vec![hidden, n_kv * hd],
            "attn_output.weight" => vec![n_head * hd, hidden],
            "attn_q.bias" => vec![n_head * hd],
            "attn_k.bias" | "attn_v.bias" => vec![n_kv * hd],
            "ffn_gate.weight" | "ffn_up.weight" => vec![hidden, ffn],
            "ffn_down.weight" => vec![ffn, hidden],
            _ => dims.clone(),
        };
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
        let rope_heads = match (config.arch, part) {
            (Arch::Llama, "attn_q.weight" | "attn_q.bias") => Some(n_head as usize),
            (Arch::Llama, "attn_k.weight" | "attn_k.bias") => Some(n_kv as usize),
            _ => None,
        };
        if let Some(h) = rope_heads {
            names::check_rope_heads(&dims, h)
                .map_err(|msg| CompressError::input(path, format!("tensor '{}': {msg}", e.name)))?;
        }
        tensors.push(SourceTensor::new(
            name,
            Some(e.name.clone()),
            dims,
            dtype_name(e.dtype).to_string(),
            e.n_bytes() as u64,
            rope_heads,
            Loc::Stored(i),
        ));
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
    let mut metadata = config.metadata(&default_model_name(dir), 0);
    metadata.extend(tokenizer_metadata(dir, &config)?);
    tensors.sort_by_key(|t| order_key(&t.name));
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
    let have: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let global = ["token_embd.weight", "output_norm.weight", "output.weight"]
        .into_iter()
        .filter(|n| *n != "output.weight" || !config.tie_word_embeddings)
        .map(str::to_string);
    let biases: &[&str] = if config.attention_bias {
        &["attn_q.bias", "attn_k.bias", "attn_v.bias"]
    } else {
        &[]
    };
    let blocks = (0..config.num_hidden_layers).flat_map(|l| {
        BLOCK_PARTS
            .iter()
            .map(move |p| format!("blk.{l}.{p}.weight"))
            .chain(biases.iter().map(move |b| format!("blk.{l}.{b}")))
    });
    match global.chain(blocks).find(|n| !have.contains(n.as_str())) {
        None => Ok(()),
        Some(n) => Err(CompressError::input(
            dir,
            format!(
                "the checkpoint has no '{}' (GGUF '{n}'), which config.json calls for",
                names::to_hf(&n).unwrap_or_else(|| n.clone())
            ),
        )),
    }
}

/// The weights every decoder block has, in llama.cpp's file order.
const BLOCK_PARTS: [&str; 9] = [
    "attn_norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_norm",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// llama.cpp's usual order: embedding, then each block, then the output head.
fn order_key(name: &str) -> (usize, usize, usize) {
    match names::layer_of(name) {
        Some(l) => {
            let part = name.split('.').nth(2).unwrap_or("");
            let bias = usize::from(name.ends_with(".bias"));
            let p = BLOCK_PARTS
                .iter()
                .position(|x| *x == part)
                .unwrap_or(BLOCK_PARTS.len());
            (1, l, p * 2 + bias)
        }
        None => match name {
            "token_embd.weight" => (0, 0, 0),
            "rope_freqs.weight" => (0, 0, 1),
            "output_norm.weight" => (2, 0, 0),
            _ => (2, 0, 1),
        },
    }
}
