//! Writes a llama GGUF with random weights, for speed measurements and CPU-vs-GPU
//! comparisons where a real checkpoint cannot be carried (e.g. a 1B model on the
//! GPU machine). The tokenizer metadata is copied from another GGUF.
//!
//! `cargo run --release --example random_llama -- PRESET TYPE SEED TOKENIZER_GGUF OUT`
//! with PRESET `smollm2` (135M shape) or `llama1b` (2048 hidden, 16 layers, 32
//! heads, 8 KV heads, 8192 feed-forward), TYPE a ggml type name (Q4_0, Q8_0, ...).

use edgelm_kernels::quant::{quantize_rows, GgmlType};
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaValue};
use rayon::prelude::*;

struct Preset {
    n_embd: u32,
    n_layer: u32,
    n_head: u32,
    n_head_kv: u32,
    n_ff: u32,
    rope_base: f32,
    tied: bool,
}

fn preset(name: &str) -> Option<Preset> {
    match name {
        "smollm2" => Some(Preset {
            n_embd: 576,
            n_layer: 30,
            n_head: 9,
            n_head_kv: 3,
            n_ff: 1536,
            rope_base: 100000.0,
            tied: true,
        }),
        "llama1b" => Some(Preset {
            n_embd: 2048,
            n_layer: 16,
            n_head: 32,
            n_head_kv: 8,
            n_ff: 8192,
            rope_base: 500000.0,
            tied: false,
        }),
        _ => None,
    }
}

/// Uniform values in [-scale, scale] from a per-tensor xorshift stream.
fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * scale
        })
        .collect()
}

/// `rows` x `cols` random weights in `ty`, quantized in parallel by row groups
/// (where a row is not a whole number of blocks, the type llama.cpp falls back to).
fn matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64, scale: f32) -> (GgmlType, Vec<u8>) {
    let ty = match ty {
        t if cols.is_multiple_of(t.block_size()) => t,
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q5_0,
        GgmlType::Q6_K => GgmlType::Q8_0,
        _ => GgmlType::F16,
    };
    let rb = ty.row_bytes(cols).expect("whole blocks");
    let mut out = vec![0u8; rows * rb];
    out.par_chunks_mut(rb * 64)
        .enumerate()
        .for_each(|(i, dst)| {
            let n = dst.len() / rb;
            let src = random(n * cols, seed ^ ((i as u64 + 1) << 20), scale);
            quantize_rows(ty, &src, cols, dst).expect("sizes match");
        });
    (ty, out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [p, ty, seed, tok, out] = &args[..] else {
        return Err("usage: random_llama PRESET TYPE SEED TOKENIZER_GGUF OUT".into());
    };
    let p = preset(p).ok_or("preset: smollm2 or llama1b")?;
    let ty = GgmlType::from_name(ty).ok_or("unknown ggml type")?;
    let seed: u64 = seed.parse()?;
    let src = GgufFile::open(tok)?;
    let vocab = src
        .get_str_array("tokenizer.ggml.tokens")?
        .ok_or("the tokenizer GGUF has no tokenizer.ggml.tokens")?
        .len();

    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::String("llama".into()));
    w.add_metadata("general.name", MetaValue::String("random weights".into()));
    let u = |v: u32| MetaValue::U32(v);
    w.add_metadata("llama.block_count", u(p.n_layer));
    w.add_metadata("llama.embedding_length", u(p.n_embd));
    w.add_metadata("llama.feed_forward_length", u(p.n_ff));
    w.add_metadata("llama.attention.head_count", u(p.n_head));
    w.add_metadata("llama.attention.head_count_kv", u(p.n_head_kv));
    w.add_metadata("llama.context_length", u(4096));
    w.add_metadata("llama.rope.freq_base", MetaValue::F32(p.rope_base));
    w.add_metadata(
        "llama.attention.layer_norm_rms_epsilon",
        MetaValue::F32(1e-5),
    );
    for (k, v) in src.metadata() {
        if k.starts_with("tokenizer.") {
            w.add_metadata(k.clone(), v.clone());
        }
    }
    let (d, ff) = (p.n_embd as usize, p.n_ff as usize);
    let hd = d / p.n_head as usize;
    let kvd = hd * p.n_head_kv as usize;
    let norm =
        |n: usize| -> Vec<u8> { vec![1f32; n].iter().flat_map(|v| v.to_le_bytes()).collect() };
    let mut t = 0u64;
    let mut add = |w: &mut GgufWriter, name: String, rows: usize, cols: usize, scale: f32| {
        t += 1;
        let (tt, data) = matrix(ty, rows, cols, seed * 1000 + t, scale);
        w.add_tensor(name, vec![cols as u64, rows as u64], tt, data)
    };
    add(&mut w, "token_embd.weight".into(), vocab, d, 1.0)?;
    let s = |cols: usize| 1.7 / (cols as f32).sqrt();
    for i in 0..p.n_layer {
        let n = |x: &str| format!("blk.{i}.{x}");
        w.add_tensor(
            n("attn_norm.weight"),
            vec![d as u64],
            GgmlType::F32,
            norm(d),
        )?;
        w.add_tensor(n("ffn_norm.weight"), vec![d as u64], GgmlType::F32, norm(d))?;
        add(&mut w, n("attn_q.weight"), d, d, s(d))?;
        add(&mut w, n("attn_k.weight"), kvd, d, s(d))?;
        add(&mut w, n("attn_v.weight"), kvd, d, s(d))?;
        add(&mut w, n("attn_output.weight"), d, d, s(d))?;
        add(&mut w, n("ffn_gate.weight"), ff, d, s(d))?;
        add(&mut w, n("ffn_up.weight"), ff, d, s(d))?;
        add(&mut w, n("ffn_down.weight"), d, ff, s(ff))?;
    }
    w.add_tensor("output_norm.weight", vec![d as u64], GgmlType::F32, norm(d))?;
    if !p.tied {
        add(&mut w, "output.weight".into(), vocab, d, s(d))?;
    }
    w.write(out)?;
    Ok(())
}
