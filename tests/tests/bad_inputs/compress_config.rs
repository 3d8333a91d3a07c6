//! `config.json` mutated: every hyper-parameter set to values out of range, of the wrong
//! type or inconsistent with the weights, RoPE settings, and the file itself replaced by
//! something that is not a JSON object (or not a file).

use std::fs;

use serde_json::json;

use crate::harness::Case;
use crate::hf_case::{make_fifo, make_link, make_sparse, set_key, Cases, FileEdit, KeyEdits};

const CONFIG: &str = "config.json";

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_config");
    let mut out = Vec::new();
    let mut key = |name: String, edits: KeyEdits, ok: bool| {
        let case = c
            .hf(name, |m| {
                for (k, v) in edits {
                    set_key(&m.join(CONFIG), k, v);
                }
            })
            .mentions(CONFIG);
        out.push(if ok { case.or_ok() } else { case });
    };

    // Integer hyper-parameters: out of range, huge, of the wrong type. None of these
    // matches the weights, so every one must be refused.
    let integers = [
        "num_hidden_layers",
        "hidden_size",
        "intermediate_size",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "vocab_size",
    ];
    let bad_ints = [
        json!(0),
        json!(-1),
        json!(100_000_000),
        json!(u32::MAX),
        json!("8"),
        json!(2.5),
    ];
    for k in integers {
        for v in &bad_ints {
            key(format!("{k} = {v}"), vec![(k, Some(v.clone()))], false);
        }
    }
    for k in ["num_hidden_layers", "hidden_size", "vocab_size"] {
        key(format!("{k} missing"), vec![(k, None)], false);
    }
    // The context length is a claim the weights cannot contradict: 0 is wrong, a huge
    // one is the runtime's to cap.
    for (v, ok) in [
        (json!(0), false),
        (json!(-1), false),
        (json!("512"), false),
        (json!(u32::MAX), true),
    ] {
        key(
            format!("max_position_embeddings = {v}"),
            vec![("max_position_embeddings", Some(v))],
            ok,
        );
    }

    // Head counts consistent with the tensor shapes but not with each other or with RoPE.
    let heads: [(&str, KeyEdits, bool); 5] = [
        (
            "8 heads of 8, KV heads 3",
            vec![
                ("num_attention_heads", Some(json!(8))),
                ("num_key_value_heads", Some(json!(3))),
                ("head_dim", Some(json!(8))),
            ],
            false,
        ),
        (
            "head_dim 1 (64 heads, 32 KV heads)",
            vec![
                ("num_attention_heads", Some(json!(64))),
                ("num_key_value_heads", Some(json!(32))),
                ("head_dim", Some(json!(1))),
            ],
            false,
        ),
        (
            "KV heads above heads",
            vec![
                ("num_attention_heads", Some(json!(2))),
                ("num_key_value_heads", Some(json!(4))),
                ("head_dim", Some(json!(32))),
            ],
            false,
        ),
        (
            "8 heads of 8, 4 KV heads",
            vec![
                ("num_attention_heads", Some(json!(8))),
                ("num_key_value_heads", Some(json!(4))),
                ("head_dim", Some(json!(8))),
            ],
            true,
        ),
        (
            "no head_dim (hidden / heads = 16)",
            vec![("head_dim", None)],
            true,
        ),
    ];
    for (what, edits, ok) in heads {
        key(what.to_string(), edits, ok);
    }

    // Floating-point values written into the file as they are.
    for (k, values) in [
        (
            "rms_norm_eps",
            vec![
                json!(0),
                json!(-1e-5),
                json!(1e300),
                json!("NaN"),
                json!(true),
            ],
        ),
        (
            "rope_parameters.rope_theta",
            vec![
                json!(0),
                json!(-10000.0),
                json!(1e300),
                json!("Infinity"),
                json!([1]),
            ],
        ),
        (
            "rope_parameters.factor",
            vec![json!(0), json!(-2.0), json!("NaN")],
        ),
    ] {
        for v in values {
            let mut edits = vec![(k, Some(v.clone()))];
            if k == "rope_parameters.factor" {
                edits.push(("rope_parameters.rope_type", Some(json!("linear"))));
            }
            key(format!("{k} = {v}"), edits, false);
        }
    }
    // The older top-level form of rope_theta.
    for v in [json!(0), json!(-1)] {
        key(
            format!("top-level rope_theta = {v}"),
            vec![("rope_parameters", None), ("rope_theta", Some(v))],
            false,
        );
    }
    for (ty, ok) in [
        ("longrope", false),
        ("yarn", false),
        ("llama3", true),
        ("dynamic", true),
    ] {
        key(
            format!("rope_type {ty}"),
            vec![("rope_parameters.rope_type", Some(json!(ty)))],
            ok,
        );
    }
    key(
        "llama3 rope with factor 0".into(),
        vec![
            ("rope_parameters.rope_type", Some(json!("llama3"))),
            ("rope_parameters.factor", Some(json!(0))),
        ],
        false,
    );

    // Booleans.
    for (k, v) in [
        ("tie_word_embeddings", json!("yes")),
        ("tie_word_embeddings", json!(false)),
        ("tie_word_embeddings", json!(1)),
        ("attention_bias", json!(true)),
        ("attention_bias", json!("no")),
    ] {
        key(format!("{k} = {v}"), vec![(k, Some(v))], false);
    }

    // The model class.
    for v in [
        json!([]),
        json!("LlamaForCausalLM"),
        json!(["GPTNeoXForCausalLM"]),
        json!([5]),
    ] {
        key(
            format!("architectures = {v}"),
            vec![("architectures", Some(v))],
            false,
        );
    }

    // The file itself.
    let files: Vec<(&str, FileEdit)> = vec![
        ("empty", Box::new(|p| fs::write(p, b"").unwrap())),
        (
            "not JSON",
            Box::new(|p| fs::write(p, b"{hidden_size: 64}").unwrap()),
        ),
        ("a list", Box::new(|p| fs::write(p, b"[]").unwrap())),
        ("null", Box::new(|p| fs::write(p, b"null").unwrap())),
        ("missing", Box::new(|p| fs::remove_file(p).unwrap())),
        ("a FIFO", Box::new(make_fifo)),
        (
            "a link to /dev/zero",
            Box::new(|p| make_link(p, "/dev/zero")),
        ),
        (
            "a link to nowhere",
            Box::new(|p| make_link(p, "no-such-file")),
        ),
        (
            "a directory",
            Box::new(|p| {
                fs::remove_file(p).unwrap();
                fs::create_dir(p).unwrap();
            }),
        ),
        ("2 GiB of zeros", Box::new(|p| make_sparse(p, 2 << 30))),
    ];
    for (what, edit) in files {
        out.push(
            c.hf(format!("config.json {what}"), |m| edit(&m.join(CONFIG)))
                .mentions(CONFIG),
        );
    }
    // generation_config.json is optional, but not a reason to block or to read forever.
    for (what, edit) in [
        ("a FIFO", make_fifo as fn(&std::path::Path)),
        ("a link to /dev/zero", |p| make_link(p, "/dev/zero")),
    ] {
        out.push(
            c.hf(format!("generation_config.json {what}"), |m| {
                edit(&m.join("generation_config.json"))
            })
            .mentions("generation_config.json")
            .or_ok(),
        );
    }
    out
}
