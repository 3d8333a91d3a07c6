//! A GGUF file as `-i` (re-quantization): the tiny `llama` of `tiny_gguf` with head
//! counts, layer counts and tensors that a parser accepts but the compressor's row
//! permutation and loaders must not trust.

use std::fs;
use std::path::Path;

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::MetaValue;

use crate::harness::{Bin, Case};
use crate::hf_case::{make_fifo, make_link, Cases, FileEdit};
use edgelm_tests::tiny_gguf::TinyGguf;

const IN: &str = "in.gguf";

fn gguf_case(c: &mut Cases, name: String, write: impl FnOnce(&Path)) -> Case {
    let dir = c.dir();
    write(&dir.join(IN));
    Case::new(name, Bin::Compress, &dir)
        .args(["-i", IN, "-o", "out/model.gguf", "-q", "Q8_0"])
        .mentions(IN)
}

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_gguf");
    let mut out = Vec::new();
    let model = |c: &mut Cases, name: String, edit: &dyn Fn(&mut TinyGguf)| {
        let mut m = TinyGguf::llama();
        edit(&mut m);
        gguf_case(c, name, |p| m.write(p))
    };

    // Head counts the q/k row permutation divides by (attn_q has 32 rows, attn_k 16).
    for (key, values) in [
        ("attention.head_count", [0, 5, 32, 128, u32::MAX]),
        ("attention.head_count_kv", [0, 3, 16, 128, u32::MAX]),
    ] {
        for v in values {
            out.push(model(&mut c, format!("{key} {v}"), &|m| {
                m.set(&format!("llama.{key}"), MetaValue::U32(v))
            }));
        }
    }
    out.push(model(&mut c, "head_count a string".into(), &|m| {
        m.set("llama.attention.head_count", MetaValue::String("4".into()))
    }));
    for v in [0, 100_000_000, u32::MAX] {
        out.push(model(&mut c, format!("block_count {v}"), &|m| {
            m.set("llama.block_count", MetaValue::U32(v))
        }));
    }
    out.push(model(&mut c, "no general.architecture".into(), &|m| {
        m.remove("general.architecture")
    }));
    out.push(model(
        &mut c,
        "general.architecture a number".into(),
        &|m| m.set("general.architecture", MetaValue::U32(7)),
    ));

    // Tensors with a zero dimension, shapes that do not split into the heads.
    for (t, dims) in [
        ("blk.0.attn_q.weight", vec![0, 32]),
        ("blk.0.attn_q.weight", vec![32, 0]),
        ("token_embd.weight", vec![32, 0]),
        ("output_norm.weight", vec![0]),
        ("blk.0.attn_q.weight", vec![32, 30]),
        ("blk.0.attn_k.weight", vec![32, 17]),
    ] {
        out.push(model(&mut c, format!("{t} {dims:?}"), &|m| {
            m.reshape(t, dims.clone())
        }));
    }
    // Values that are not numbers.
    for (t, v) in [
        ("blk.0.attn_q.weight", f32::NAN),
        ("token_embd.weight", f32::INFINITY),
        ("blk.0.ffn_norm.weight", f32::NEG_INFINITY),
    ] {
        out.push(model(&mut c, format!("{t} holds {v}"), &|m| {
            m.tensor(t).data[8..12].copy_from_slice(&v.to_le_bytes())
        }));
    }
    // An already quantized input is re-quantized with a warning.
    out.push(
        model(&mut c, "attn_v stored as Q8_0".into(), &|m| {
            let t = m.tensor("blk.0.attn_v.weight");
            t.ty = GgmlType::Q8_0;
            t.data = vec![0; 16 * 34];
        })
        .or_ok(),
    );

    // A tensor type id no ggml build knows, patched into the tensor info.
    out.push(gguf_case(&mut c, "tensor type 99".into(), |p| {
        let mut b = TinyGguf::llama().bytes();
        let name = b"blk.0.attn_q.weight";
        let at = b.windows(name.len()).position(|w| w == name).unwrap() + name.len();
        // n_dims (u32), dims (u64 each), then the type (u32).
        let n_dims = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let ty = at + 4 + 8 * n_dims;
        b[ty..ty + 4].copy_from_slice(&99u32.to_le_bytes());
        fs::write(p, b).unwrap();
    }));

    // Not a GGUF file, or not a file.
    let files: [(&str, FileEdit); 5] = [
        ("empty", Box::new(|p| fs::write(p, b"").unwrap())),
        ("a FIFO", Box::new(make_fifo)),
        (
            "a link to /dev/zero",
            Box::new(|p| make_link(p, "/dev/zero")),
        ),
        (
            "text",
            Box::new(|p| fs::write(p, b"not a model\n").unwrap()),
        ),
        (
            "truncated in the tensor data",
            Box::new(|p| {
                let b = TinyGguf::llama().bytes();
                fs::write(p, &b[..b.len() - 100]).unwrap()
            }),
        ),
    ];
    for (what, write) in files {
        out.push(gguf_case(&mut c, format!("-i {what}"), write));
    }
    out
}
