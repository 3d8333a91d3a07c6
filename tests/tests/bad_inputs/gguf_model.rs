//! GGUF model metadata and tensors with wrong values: each hyper-parameter missing, zero,
//! huge, negative, of the wrong type or not finite; tensors missing, misshapen or holding
//! NaN. The file itself is well-formed: only its meaning is wrong.

use edgelm_runtime::gguf::MetaValue;

use crate::harness::Case;
use edgelm_tests::tiny_gguf::{f32_bytes, Tensor, TinyGguf, D, FF};

use crate::gguf_case::{run_case, Edit};

const GROUP: &str = "gguf_model";

fn nan_bytes(n: u64, at: u64, v: f32) -> Vec<u8> {
    let mut b = f32_bytes(n);
    b[at as usize * 4..at as usize * 4 + 4].copy_from_slice(&v.to_le_bytes());
    b
}

pub fn cases() -> Vec<Case> {
    let mut edits: Vec<(String, Edit, bool)> = Vec::new();
    let mut add = |name: String, ok: bool, f: Edit| edits.push((name, f, ok));

    // Integer hyper-parameters. Values that keep the file consistent are allowed to run
    // (`ok`): a shorter context, a rope dimension that still fits the head.
    for key in [
        "block_count",
        "embedding_length",
        "feed_forward_length",
        "attention.head_count",
        "attention.head_count_kv",
        "context_length",
        "rope.dimension_count",
    ] {
        let k = format!("llama.{key}");
        let optional = key == "rope.dimension_count";
        let kc = k.clone();
        add(
            format!("{k} missing"),
            optional,
            Box::new(move |m| m.remove(&kc)),
        );
        for (label, v) in [
            ("0", MetaValue::U32(0)),
            ("3", MetaValue::U32(3)),
            ("10^8", MetaValue::U32(100_000_000)),
            ("2^32-1", MetaValue::U32(u32::MAX)),
            ("2^40 (u64)", MetaValue::U64(1 << 40)),
            ("-1 (i32)", MetaValue::I32(-1)),
            ("a string", MetaValue::String("8".into())),
            ("8.5 (f32)", MetaValue::F32(8.5)),
        ] {
            // A context of 3 cannot hold the prompt and two tokens, which is a clean error
            // or a clean stop.
            // A huge trained context is a claim, not an allocation: the default --ctx is
            // smaller.
            let ok = key == "context_length" && ["3", "10^8", "2^32-1"].contains(&label);
            let kc = k.clone();
            add(
                format!("{k} = {label}"),
                ok,
                Box::new(move |m| m.set(&kc, v.clone())),
            );
        }
    }

    // Float hyper-parameters.
    for key in ["rope.freq_base", "attention.layer_norm_rms_epsilon"] {
        let k = format!("llama.{key}");
        for (label, v) in [
            ("NaN", MetaValue::F32(f32::NAN)),
            ("inf", MetaValue::F32(f32::INFINITY)),
            ("-inf", MetaValue::F32(f32::NEG_INFINITY)),
            ("-1", MetaValue::F32(-1.0)),
            ("0", MetaValue::F32(0.0)),
            ("1e39 (f64)", MetaValue::F64(1e39)),
            ("a string", MetaValue::String("1e4".into())),
            (
                "an array",
                MetaValue::Array(edgelm_runtime::gguf::MetaArray::F32(vec![1.0])),
            ),
        ] {
            // A zero epsilon is legal (llama.cpp accepts it) and these weights are not zero.
            let ok = key.contains("epsilon") && label == "0";
            let kc = k.clone();
            add(
                format!("{k} = {label}"),
                ok,
                Box::new(move |m| m.set(&kc, v.clone())),
            );
        }
    }
    for (label, v) in [
        ("NaN", f32::NAN),
        ("0", 0.0),
        ("-2", -2.0),
        ("inf", f32::INFINITY),
    ] {
        add(
            format!("llama.rope.scaling.factor = {label} (linear)"),
            false,
            Box::new(move |m| {
                m.set(
                    "llama.rope.scaling.type",
                    MetaValue::String("linear".into()),
                );
                m.set("llama.rope.scaling.factor", MetaValue::F32(v));
            }),
        );
    }

    // The architecture.
    for (label, v) in [
        ("gptj", MetaValue::String("gptj".into())),
        ("empty", MetaValue::String(String::new())),
        ("a number", MetaValue::U32(1)),
    ] {
        add(
            format!("general.architecture = {label}"),
            false,
            Box::new(move |m| m.set("general.architecture", v.clone())),
        );
    }
    add(
        "general.architecture missing".into(),
        false,
        Box::new(|m| m.remove("general.architecture")),
    );
    add(
        "general.architecture qwen2 without its biases".into(),
        false,
        Box::new(|m| {
            let meta = std::mem::take(&mut m.meta);
            m.meta = meta
                .into_iter()
                .map(|(k, v)| (k.replace("llama.", "qwen2."), v))
                .collect();
            m.set("general.architecture", MetaValue::String("qwen2".into()));
            m.tensors.retain(|t| t.name != "blk.0.attn_q.weight");
        }),
    );

    // Tensors: missing, misshapen, non-finite.
    for name in [
        "token_embd.weight",
        "output_norm.weight",
        "blk.0.attn_q.weight",
        "blk.0.ffn_down.weight",
    ] {
        add(
            format!("{name} missing"),
            false,
            Box::new(move |m| m.tensors.retain(|t| t.name != name)),
        );
    }
    for (name, dims) in [
        ("token_embd.weight", vec![D, 9]),
        ("token_embd.weight", vec![D + 1, 8]),
        ("blk.0.attn_q.weight", vec![D, D + 1]),
        ("blk.0.attn_k.weight", vec![D, D]),
        ("blk.0.ffn_down.weight", vec![FF + 1, D]),
        ("blk.0.ffn_up.weight", vec![D, FF, 2]),
        ("output_norm.weight", vec![D + 1]),
        ("blk.0.attn_norm.weight", vec![D, 2]),
    ] {
        add(
            format!("{name} shaped {dims:?}"),
            false,
            Box::new(move |m| m.reshape(name, dims.clone())),
        );
    }
    for (name, v) in [
        ("output_norm.weight", f32::NAN),
        ("blk.0.attn_norm.weight", f32::INFINITY),
        ("blk.0.ffn_norm.weight", f32::NAN),
        ("token_embd.weight", f32::NAN),
        ("blk.0.attn_q.weight", f32::INFINITY),
        ("blk.0.ffn_down.weight", f32::NAN),
    ] {
        add(
            format!("{v} in {name}"),
            false,
            Box::new(move |m| {
                let t = m.tensor(name);
                let n = t.dims.iter().product();
                t.data = nan_bytes(n, n / 2, v);
            }),
        );
    }
    for v in [f32::NAN, 0.0, -1.0] {
        add(
            format!("rope_freqs.weight holding {v}"),
            false,
            Box::new(move |m| {
                m.tensors.push(Tensor {
                    name: "rope_freqs.weight".into(),
                    dims: vec![4],
                    ty: edgelm_kernels::quant::GgmlType::F32,
                    data: nan_bytes(4, 1, v),
                })
            }),
        );
    }
    add(
        "a tensor the architecture does not use".into(),
        true,
        Box::new(|m| {
            m.tensors.push(Tensor {
                name: "blk.0.extra.weight".into(),
                dims: vec![4],
                ty: edgelm_kernels::quant::GgmlType::F32,
                data: f32_bytes(4),
            })
        }),
    );
    add(
        "tensors for 2 blocks with block_count 1".into(),
        true,
        Box::new(|m| {
            let extra: Vec<Tensor> = m
                .tensors
                .iter()
                .filter(|t| t.name.starts_with("blk.0."))
                .map(|t| Tensor {
                    name: t.name.replace("blk.0.", "blk.1."),
                    dims: t.dims.clone(),
                    ty: t.ty,
                    data: t.data.clone(),
                })
                .collect();
            m.tensors.extend(extra);
        }),
    );

    edits
        .into_iter()
        .enumerate()
        .map(|(i, (name, edit, ok))| {
            let mut m = TinyGguf::llama();
            edit(&mut m);
            let c = run_case(GROUP, i, name, &m);
            if ok {
                c.or_ok()
            } else {
                c
            }
        })
        .collect()
}
