//! `model.safetensors` mutated: its header length, header text, each tensor's dtype,
//! shape and offsets, the set of tensors, the values, truncations, special files in its
//! place, and a sharded index gone wrong.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::Case;
use crate::hf_case::{make_fifo, make_link, set_f32, write_st_raw, Cases, FileEdit, St, StTensor};

const ST: &str = "model.safetensors";
const Q: &str = "model.layers.0.self_attn.q_proj.weight";
const K: &str = "model.layers.1.self_attn.k_proj.weight";
const EMBED: &str = "model.embed_tokens.weight";

/// The file's header (as an object, tensors laid out in order) and data.
fn parts(model: &Path) -> (serde_json::Map<String, Value>, Vec<u8>) {
    St::read(&model.join(ST)).layout()
}

/// Rewrites one field of one tensor's header entry, leaving the data as it was.
fn set_field(model: &Path, tensor: &str, field: &str, v: Value) {
    let (mut h, data) = parts(model);
    h[tensor][field] = v;
    write_st_raw(&model.join(ST), &serde_json::to_vec(&h).unwrap(), &data);
}

/// Header bytes written as they are after a correct length prefix.
fn raw_header(model: &Path, header: &[u8]) {
    let (_, data) = parts(model);
    write_st_raw(&model.join(ST), header, &data);
}

/// The first 8 bytes replaced by `n`.
fn header_len(model: &Path, n: u64) {
    let p = model.join(ST);
    let mut b = fs::read(&p).unwrap();
    b[..8].copy_from_slice(&n.to_le_bytes());
    fs::write(&p, b).unwrap();
}

fn edit_st(model: &Path, f: impl FnOnce(&mut St)) {
    let mut st = St::read(&model.join(ST));
    f(&mut st);
    st.write(&model.join(ST));
}

pub fn cases() -> Vec<Case> {
    let mut c = Cases::new("compress_safetensors");
    let mut out = Vec::new();
    let file_len = fs::metadata(crate::hf_case::base_dir().join(ST))
        .unwrap()
        .len();

    // The 8-byte header length.
    for n in [
        0,
        1,
        7,
        file_len - 8,
        file_len,
        file_len + 1,
        1 << 32,
        1 << 40,
        u64::MAX / 2,
        u64::MAX,
    ] {
        out.push(
            c.hf(format!("header length {n}"), |m| header_len(m, n))
                .mentions(ST),
        );
    }

    // The header text.
    let deep_list = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_obj = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
    let headers: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("not JSON", b"this is not json".to_vec()),
        ("null", b"null".to_vec()),
        ("a list", b"[]".to_vec()),
        ("a number", b"42".to_vec()),
        ("a string", b"\"model\"".to_vec()),
        ("no tensors", b"{}".to_vec()),
        (
            "only metadata",
            br#"{"__metadata__":{"format":"pt"}}"#.to_vec(),
        ),
        ("not UTF-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("NUL bytes", vec![0; 64]),
        ("deeply nested list", deep_list.into_bytes()),
        ("deeply nested object", deep_obj.into_bytes()),
        ("tensor entry a string", br#"{"x":"y"}"#.to_vec()),
        (
            "metadata not strings",
            br#"{"__metadata__":{"format":5}}"#.to_vec(),
        ),
    ];
    for (what, h) in headers {
        out.push(
            c.hf(format!("header {what}"), move |m| raw_header(m, &h))
                .mentions(ST),
        );
    }

    // Each field of a tensor entry, set to bad values (data left as it was).
    let fields: Vec<(&str, Vec<Value>)> = vec![
        (
            "dtype",
            vec![
                json!("F64"),
                json!("I8"),
                json!("BOOL"),
                json!("XYZ"),
                json!("f32"),
                json!(""),
                json!(5),
                Value::Null,
            ],
        ),
        (
            "shape",
            vec![
                json!([]),
                json!([0, 64]),
                json!([64, 0]),
                json!([4096]),
                json!([64, 64, 1]),
                json!([-1, 64]),
                json!([1u64 << 40, 64]),
                json!([u64::MAX, 2]),
                json!([1u64 << 32, 1u64 << 32]),
                json!(["64", 64]),
                Value::Null,
            ],
        ),
        (
            "data_offsets",
            vec![
                json!([0]),
                json!([0, 1, 2]),
                json!([-1, 16384]),
                json!([u64::MAX - 1, u64::MAX]),
                json!("0-16384"),
                Value::Null,
            ],
        ),
    ];
    for (field, values) in fields {
        for v in values {
            for t in [Q, K] {
                let v = v.clone();
                out.push(
                    c.hf(format!("{t} {field} {v}"), |m| set_field(m, t, field, v))
                        .mentions(ST),
                );
            }
        }
    }

    // Offsets that disagree with the neighbours or the shape, computed from the layout.
    type Off = fn(u64, u64, u64) -> [u64; 2];
    let offsets: [(&str, Off); 7] = [
        ("reversed", |a, b, _| [b, a]),
        ("empty", |a, _, _| [a, a]),
        ("short by one element", |a, b, _| [a, b - 4]),
        ("overlapping the next tensor", |a, b, _| [a + 4, b + 4]),
        ("past the end", |a, b, end| [a + end, b + end]),
        ("the whole buffer", |_, _, end| [0, end]),
        ("the first tensor's bytes", |a, b, _| [0, b - a]),
    ];
    for (what, f) in offsets {
        out.push(
            c.hf(format!("{Q} offsets {what}"), |m| {
                let (mut h, data) = parts(m);
                let a = h[Q]["data_offsets"][0].as_u64().unwrap();
                let b = h[Q]["data_offsets"][1].as_u64().unwrap();
                h[Q]["data_offsets"] = json!(f(a, b, data.len() as u64));
                write_st_raw(&m.join(ST), &serde_json::to_vec(&h).unwrap(), &data);
            })
            .mentions(ST),
        );
    }
    // Same size, other dtypes: consistent files the compressor does not read.
    for dtype in ["I32", "U32"] {
        out.push(
            c.hf(format!("{Q} stored as {dtype}"), |m| {
                edit_st(m, |st| st.get_mut(Q).dtype = dtype.into())
            })
            .mentions(ST),
        );
    }
    // Consistent files whose shapes do not match config.json.
    for (t, shape) in [
        (Q, vec![32usize, 128]),
        (EMBED, vec![64, 512]),
        (K, vec![16, 128]),
        ("model.layers.0.input_layernorm.weight", vec![8, 8]),
    ] {
        out.push(
            c.hf(format!("{t} reshaped to {shape:?}"), |m| {
                edit_st(m, |st| st.get_mut(t).shape = shape)
            })
            .mentions(ST),
        );
    }

    // Tensors missing (removed with their bytes: the file stays consistent).
    for t in [
        EMBED,
        Q,
        "model.norm.weight",
        "model.layers.1.mlp.down_proj.weight",
        "model.layers.0.input_layernorm.weight",
    ] {
        out.push(
            c.hf(format!("{t} missing"), |m| {
                edit_st(m, |st| st.tensors.retain(|x| x.name != t))
            })
            .mentions(t),
        );
    }

    // Tensors added.
    let extra = |name: &str, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        StTensor {
            name: name.into(),
            dtype: "F32".into(),
            shape,
            data: (0..n)
                .flat_map(|i| (i as f32 * 1e-3).to_le_bytes())
                .collect(),
        }
    };
    for (t, shape, ok) in [
        (
            "model.layers.2.self_attn.q_proj.weight",
            vec![64, 64],
            false,
        ),
        (
            "model.layers.99999999999999999999.mlp.up_proj.weight",
            vec![128, 64],
            false,
        ),
        ("vision_tower.patch_embed.weight", vec![4, 4], false),
        (
            "model.layers.0.self_attn.q_proj.lora_A.weight",
            vec![8, 64],
            false,
        ),
        // Real checkpoints carry these; the compressor may take or refuse them.
        ("lm_head.weight", vec![512, 64], true),
        (
            "model.layers.0.self_attn.rotary_emb.inv_freq",
            vec![8],
            true,
        ),
        ("model.layers.0.self_attn.q_proj.bias", vec![64], true),
        ("model.layers.0.self_attn.k_proj.bias", vec![32], true),
        ("model.layers.0.self_attn.q_proj.bias", vec![65], false),
    ] {
        let case = c
            .hf(format!("extra {t} {shape:?}"), |m| {
                edit_st(m, |st| st.tensors.push(extra(t, shape)))
            })
            .mentions(ST);
        out.push(if ok { case.or_ok() } else { case });
    }

    // A name twice in the header text: pointing at the same bytes, and at other bytes.
    for (what, other) in [("same bytes", false), ("other bytes", true)] {
        out.push(
            c.hf(format!("duplicate name, {what}"), |m| {
                let (h, data) = parts(m);
                let mut text = serde_json::to_string(&h).unwrap();
                let mut entry = h[Q].clone();
                if other {
                    entry = h[K].clone();
                    entry["shape"] = h[Q]["shape"].clone();
                }
                text.pop();
                text += &format!(",{}:{}}}", json!(Q), entry);
                write_st_raw(&m.join(ST), text.as_bytes(), &data);
            })
            .mentions(ST)
            .or_ok(),
        );
    }
    // The duplicate with the other bytes must not pass: `or_ok` above is only for the
    // first; make the second strict.
    if let Some(last) = out.last_mut() {
        last.expect = crate::harness::Expect::Refused;
    }

    // Values that are not numbers: refused, naming the tensor.
    for t in [
        EMBED,
        Q,
        "model.norm.weight",
        "model.layers.1.mlp.down_proj.weight",
    ] {
        for (what, v) in [
            ("NaN", f32::NAN),
            ("+inf", f32::INFINITY),
            ("-inf", f32::NEG_INFINITY),
        ] {
            out.push(
                c.hf(format!("{t} holds {what}"), |m| {
                    edit_st(m, |st| set_f32(st.get_mut(t), 7, v))
                })
                .mentions(t),
            );
        }
    }

    // Truncated at several points, and padded.
    let header_end = {
        let b = fs::read(crate::hf_case::base_dir().join(ST)).unwrap();
        8 + u64::from_le_bytes(b[..8].try_into().unwrap())
    };
    for at in [
        0,
        4,
        8,
        9,
        header_end / 2,
        header_end - 1,
        header_end,
        header_end + 1,
        file_len / 2,
        file_len - 4,
        file_len - 1,
    ] {
        out.push(
            c.hf(format!("truncated to {at} bytes"), |m| {
                let f = fs::OpenOptions::new().write(true).open(m.join(ST)).unwrap();
                f.set_len(at).unwrap();
            })
            .mentions(ST),
        );
    }
    out.push(
        c.hf("padded by 8 bytes", |m| {
            let mut b = fs::read(m.join(ST)).unwrap();
            b.extend_from_slice(&[0; 8]);
            fs::write(m.join(ST), b).unwrap();
        })
        .mentions(ST),
    );

    // Not a regular file.
    out.push(c.hf("a FIFO", |m| make_fifo(&m.join(ST))).mentions(ST));
    for target in [
        "/dev/zero",
        "/dev/null",
        "/dev/urandom",
        "no-such-file",
        ".",
    ] {
        out.push(
            c.hf(format!("a link to {target}"), |m| {
                make_link(&m.join(ST), target)
            })
            .mentions(ST),
        );
    }
    out.push(
        c.hf("a directory", |m| {
            fs::remove_file(m.join(ST)).unwrap();
            fs::create_dir(m.join(ST)).unwrap();
        })
        .mentions(ST),
    );

    // Sharded: `model.safetensors.index.json` instead of one file.
    const INDEX: &str = "model.safetensors.index.json";
    /// Splits the file into two shards and writes an index with `weight_map`.
    fn shard(m: &Path, weight_map: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let st = St::read(&m.join(ST));
        fs::remove_file(m.join(ST)).unwrap();
        let half = st.tensors.len() / 2;
        let mut map = serde_json::Map::new();
        for (i, part) in [&st.tensors[..half], &st.tensors[half..]]
            .iter()
            .enumerate()
        {
            let file = format!("model-0000{}-of-00002.safetensors", i + 1);
            for t in part.iter() {
                map.insert(t.name.clone(), json!(file));
            }
            St {
                metadata: st.metadata.clone(),
                tensors: part.to_vec(),
            }
            .write(&m.join(&file));
        }
        weight_map(&mut map);
        let index = json!({"metadata": {}, "weight_map": map});
        fs::write(m.join(INDEX), serde_json::to_vec(&index).unwrap()).unwrap();
    }
    let shard_cases: Vec<(&str, &str, FileEdit, bool)> = vec![
        ("valid shards", INDEX, Box::new(|m| shard(m, |_| ())), true),
        (
            "a missing shard",
            "model-00003-of-00002.safetensors",
            Box::new(|m| {
                shard(m, |w| {
                    w.insert(Q.into(), json!("model-00003-of-00002.safetensors"));
                })
            }),
            false,
        ),
        (
            "a shard outside the folder",
            INDEX,
            Box::new(|m| {
                shard(m, |w| {
                    w.insert(Q.into(), json!("../model/model-00001-of-00002.safetensors"));
                })
            }),
            false,
        ),
        (
            "an absolute shard path",
            INDEX,
            Box::new(|m| {
                shard(m, |w| {
                    w.insert(Q.into(), json!("/etc/passwd"));
                })
            }),
            false,
        ),
        (
            "a shard that is a FIFO",
            "model-00001-of-00002.safetensors",
            Box::new(|m| {
                shard(m, |_| ());
                make_fifo(&m.join("model-00001-of-00002.safetensors"));
            }),
            false,
        ),
        (
            "a tensor listed in the wrong shard",
            INDEX,
            Box::new(|m| {
                shard(m, |w| {
                    let other = if w[Q] == json!("model-00001-of-00002.safetensors") {
                        "model-00002-of-00002.safetensors"
                    } else {
                        "model-00001-of-00002.safetensors"
                    };
                    w.insert(Q.into(), json!(other));
                })
            }),
            false,
        ),
        (
            "a tensor the shards lack",
            INDEX,
            Box::new(|m| {
                shard(m, |w| {
                    w.insert(
                        "model.layers.0.mlp.extra.weight".into(),
                        json!("model-00001-of-00002.safetensors"),
                    );
                })
            }),
            false,
        ),
        (
            "a weight_map entry not a string",
            INDEX,
            Box::new(|m| {
                shard(m, |w| {
                    w.insert(Q.into(), json!(1));
                })
            }),
            false,
        ),
        (
            "an empty weight_map",
            INDEX,
            Box::new(|m| shard(m, |w| w.clear())),
            false,
        ),
        (
            "an index that is not JSON",
            INDEX,
            Box::new(|m| {
                shard(m, |_| ());
                fs::write(m.join(INDEX), b"{weight_map").unwrap();
            }),
            false,
        ),
        (
            "an index linked to /dev/zero",
            INDEX,
            Box::new(|m| {
                shard(m, |_| ());
                make_link(&m.join(INDEX), "/dev/zero");
            }),
            false,
        ),
        (
            "an index that is a FIFO",
            INDEX,
            Box::new(|m| {
                shard(m, |_| ());
                make_fifo(&m.join(INDEX));
            }),
            false,
        ),
    ];
    for (what, mention, edit, ok) in shard_cases {
        let case = c.hf(format!("sharded: {what}"), edit).mentions(mention);
        out.push(if ok { case.or_ok() } else { case });
    }

    c.list.extend(out);
    c.list
}
