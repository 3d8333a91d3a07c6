//! `edgelm info`: what a GGUF file holds, readable without running it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgGroup, Args};
use edgelm_runtime::gguf::{GgufFile, MetaArray, MetaValue};
use edgelm_runtime::model::ModelConfig;

use crate::load::{open_gguf, MIB};

#[derive(Args)]
#[command(group(ArgGroup::new("gguf").required(true).args(["file", "model"])))]
pub struct InfoArgs {
    /// GGUF file (or give it with -m, as the other subcommands take it).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// GGUF file.
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    model: Option<PathBuf>,
    /// Also list every metadata key.
    #[arg(long)]
    metadata: bool,
}

pub fn main(a: InfoArgs) -> Result<()> {
    // Clap requires one of the two; the positional form is kept for old scripts.
    let Some(path) = a.model.as_ref().or(a.file.as_ref()) else {
        anyhow::bail!("give the GGUF file: edgelm info -m FILE");
    };
    let f = open_gguf(path)?;
    println!("file:         {}", path.display());
    println!(
        "gguf:         v{}, {} metadata keys, {} tensors, alignment {}, {:.1} MiB",
        f.version(),
        f.metadata().len(),
        f.tensors().len(),
        f.alignment(),
        f.file_size() as f64 / MIB
    );
    if let Some(name) = f.get_str("general.name")? {
        println!("name:         {name}");
    }
    match ModelConfig::from_gguf(&f) {
        Ok(c) => {
            println!(
                "architecture: {} ({})",
                c.arch.name,
                c.arch.features().join(", ")
            );
            if let Some(w) = c.window {
                println!("sliding window: {w} positions");
            }
            if c.attn_softcap.is_some() || c.final_softcap.is_some() {
                let show = |v: Option<f32>| v.map_or("-".to_string(), |v| v.to_string());
                println!(
                    "soft-capping: attention {}, final logits {}",
                    show(c.attn_softcap),
                    show(c.final_softcap)
                );
            }
            println!(
                "layers {} | embedding {} | feed-forward {} | heads {} (KV {}) | head dim {} | rope base {} ({} dims) | rms eps {:e} | context {}",
                c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.rope_base, c.n_rot, c.rms_eps, c.n_ctx_train
            );
        }
        Err(e) => println!("architecture: not runnable here: {e}"),
    }
    print_tokenizer(&f)?;
    if a.metadata {
        println!("\nmetadata:");
        for (k, v) in f.metadata() {
            println!("  {k} = {}", short(v));
        }
    }
    println!(
        "\n{:<40} {:>6} {:>16} {:>12}",
        "tensor", "type", "shape", "bytes"
    );
    let mut by_type: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for t in f.tensors() {
        let shape = format!("{:?}", t.dims);
        println!(
            "{:<40} {:>6} {:>16} {:>12}",
            t.name,
            t.ty.name(),
            shape,
            t.n_bytes
        );
        let e = by_type.entry(t.ty.name()).or_default();
        e.0 += 1;
        e.1 += t.n_elements;
        e.2 += t.n_bytes;
    }
    let params: u64 = f.tensors().iter().map(|t| t.n_elements).sum();
    let bytes: u64 = f.tensors().iter().map(|t| t.n_bytes).sum();
    println!("\ntotals by type:");
    for (ty, (n, elems, b)) in &by_type {
        println!(
            "  {ty:<6} {n:>4} tensors {elems:>12} params {:>9.2} MiB",
            *b as f64 / MIB
        );
    }
    println!(
        "  all    {:>4} tensors {params:>12} params {:>9.2} MiB ({:.2} bits/param)",
        f.tensors().len(),
        bytes as f64 / MIB,
        bytes as f64 * 8.0 / params.max(1) as f64
    );
    Ok(())
}

fn print_tokenizer(f: &GgufFile) -> Result<()> {
    let Some(model) = f.get_str("tokenizer.ggml.model")? else {
        println!("tokenizer:    none");
        return Ok(());
    };
    let n = f
        .get_str_array("tokenizer.ggml.tokens")?
        .map_or(0, |t| t.len());
    let merges = f
        .get_str_array("tokenizer.ggml.merges")?
        .map_or(0, |m| m.len());
    let id =
        |k: &str| -> Result<String> { Ok(f.get_u32(k)?.map_or("-".into(), |v| v.to_string())) };
    println!(
        "tokenizer:    {model} (pre: {}), {n} tokens, {merges} merges, bos {} eos {} eot {}, add_bos {}, chat template: {}",
        f.get_str("tokenizer.ggml.pre")?.unwrap_or("-"),
        id("tokenizer.ggml.bos_token_id")?,
        id("tokenizer.ggml.eos_token_id")?,
        id("tokenizer.ggml.eot_token_id")?,
        f.get_bool("tokenizer.ggml.add_bos_token")?.map_or("-".into(), |b| b.to_string()),
        if f.get_str("tokenizer.chat_template")?.is_some() { "yes" } else { "no" },
    );
    Ok(())
}

/// One-line rendering of a value; long arrays show their length and first items.
fn short(v: &MetaValue) -> String {
    match v {
        MetaValue::String(s) if s.len() > 80 => {
            let cut: String = s.chars().take(60).collect();
            format!("{cut:?}... ({} bytes)", s.len())
        }
        MetaValue::String(s) => format!("{s:?}"),
        MetaValue::Array(a) => short_array(a),
        other => format!("{other:?}"),
    }
}

fn short_array(a: &MetaArray) -> String {
    macro_rules! show {
        ($v:expr) => {{
            let head: Vec<String> = $v.iter().take(4).map(|x| format!("{x:?}")).collect();
            let more = if $v.len() > 4 { ", ..." } else { "" };
            format!("[{}{more}] ({} items)", head.join(", "), $v.len())
        }};
    }
    match a {
        MetaArray::U8(v) => show!(v),
        MetaArray::I8(v) => show!(v),
        MetaArray::U16(v) => show!(v),
        MetaArray::I16(v) => show!(v),
        MetaArray::U32(v) => show!(v),
        MetaArray::I32(v) => show!(v),
        MetaArray::U64(v) => show!(v),
        MetaArray::I64(v) => show!(v),
        MetaArray::F32(v) => show!(v),
        MetaArray::F64(v) => show!(v),
        MetaArray::Bool(v) => show!(v),
        MetaArray::String(v) => show!(v),
        MetaArray::Array(v) => format!("[nested arrays] ({} items)", v.len()),
    }
}
