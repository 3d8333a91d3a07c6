//! GGUF tokenizer metadata with wrong values: the model kind, the token list, token
//! types, merges, scores and special-token ids, each missing, of the wrong type, the
//! wrong length or out of range.

use edgelm_runtime::gguf::{MetaArray, MetaValue};

use crate::harness::Case;
use edgelm_tests::tiny_gguf::{strings, TinyGguf, TOKENS};

use crate::gguf_case::{run_case, Edit};

const GROUP: &str = "gguf_tokenizer";

/// The tiny model with a SentencePiece vocabulary (scores, byte-fallback tokens).
fn spm() -> TinyGguf {
    let mut m = TinyGguf::llama();
    m.set("tokenizer.ggml.model", MetaValue::String("llama".into()));
    m.remove("tokenizer.ggml.pre");
    m.remove("tokenizer.ggml.merges");
    m.set(
        "tokenizer.ggml.tokens",
        strings(&["<unk>", "<s>", "</s>", "<0x61>", "a", "b", "▁a", "▁"]),
    );
    m.set(
        "tokenizer.ggml.scores",
        MetaValue::Array(MetaArray::F32(vec![
            0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -0.5, -3.0,
        ])),
    );
    m.set(
        "tokenizer.ggml.token_type",
        MetaValue::Array(MetaArray::I32(vec![2, 3, 3, 6, 1, 1, 1, 1])),
    );
    m.set("tokenizer.ggml.bos_token_id", MetaValue::U32(1));
    m.set("tokenizer.ggml.eos_token_id", MetaValue::U32(2));
    m.set("tokenizer.ggml.unknown_token_id", MetaValue::U32(0));
    m
}

fn set(key: &'static str, v: MetaValue) -> Edit {
    Box::new(move |m| m.set(key, v.clone()))
}

fn remove(key: &'static str) -> Edit {
    Box::new(move |m| m.remove(key))
}

/// Oddities llama.cpp loads (ignoring the id, treating the type as undefined, keeping a
/// merge that never applies or a byte token it never reads): a run may accept them too,
/// as long as it stays clean.
const LLAMA_CPP_ACCEPTS: [&str; 9] = [
    "token_type 99",
    "token_type -1",
    "a merge of three parts",
    "a merge of unknown tokens",
    "a merge whose result is no token",
    "spm: scores missing",
    "spm: unknown_token_id 8",
    "spm: byte token not hex",
    "_token_id = ",
];

pub fn cases() -> Vec<Case> {
    let i32s = |v: Vec<i32>| MetaValue::Array(MetaArray::I32(v));
    let f32s = |v: Vec<f32>| MetaValue::Array(MetaArray::F32(v));
    // (name, base is SPM, may be valid, edit)
    let mut edits: Vec<(String, bool, bool, Edit)> = vec![
        (
            "model missing".into(),
            false,
            false,
            remove("tokenizer.ggml.model"),
        ),
        (
            "model unknown".into(),
            false,
            false,
            set(
                "tokenizer.ggml.model",
                MetaValue::String("wordpiece9".into()),
            ),
        ),
        (
            "model empty".into(),
            false,
            false,
            set("tokenizer.ggml.model", MetaValue::String(String::new())),
        ),
        (
            "model a number".into(),
            false,
            false,
            set("tokenizer.ggml.model", MetaValue::U32(2)),
        ),
        (
            "tokens missing".into(),
            false,
            false,
            remove("tokenizer.ggml.tokens"),
        ),
        (
            "tokens empty".into(),
            false,
            false,
            set("tokenizer.ggml.tokens", strings(&[])),
        ),
        (
            "tokens as numbers".into(),
            false,
            false,
            set("tokenizer.ggml.tokens", i32s(vec![1; 8])),
        ),
        (
            "tokens a string".into(),
            false,
            false,
            set("tokenizer.ggml.tokens", MetaValue::String("a".into())),
        ),
        (
            "7 tokens for 8 embedding rows".into(),
            false,
            false,
            set("tokenizer.ggml.tokens", strings(&TOKENS[..7])),
        ),
        (
            "9 tokens for 8 embedding rows".into(),
            false,
            false,
            set(
                "tokenizer.ggml.tokens",
                strings(&[&TOKENS[..], &["d"]].concat()),
            ),
        ),
        (
            "a duplicated token".into(),
            false,
            true,
            set(
                "tokenizer.ggml.tokens",
                strings(&["<s>", "</s>", "a", "b", "c", "Ġ", "ab", "ab"]),
            ),
        ),
        (
            "an empty token".into(),
            false,
            true,
            set(
                "tokenizer.ggml.tokens",
                strings(&["<s>", "</s>", "a", "b", "c", "Ġ", "ab", ""]),
            ),
        ),
        (
            "token_type 7 long".into(),
            false,
            false,
            set("tokenizer.ggml.token_type", i32s(vec![1; 7])),
        ),
        (
            "token_type 9 long".into(),
            false,
            false,
            set("tokenizer.ggml.token_type", i32s(vec![1; 9])),
        ),
        (
            "token_type 99".into(),
            false,
            false,
            set(
                "tokenizer.ggml.token_type",
                i32s(vec![3, 3, 99, 1, 1, 1, 1, 1]),
            ),
        ),
        (
            "token_type -1".into(),
            false,
            false,
            set(
                "tokenizer.ggml.token_type",
                i32s(vec![3, 3, -1, 1, 1, 1, 1, 1]),
            ),
        ),
        (
            "token_type as strings".into(),
            false,
            false,
            set("tokenizer.ggml.token_type", strings(&TOKENS)),
        ),
        (
            "token_type as floats".into(),
            false,
            false,
            set("tokenizer.ggml.token_type", f32s(vec![1.0; 8])),
        ),
        (
            "merges missing".into(),
            false,
            true,
            remove("tokenizer.ggml.merges"),
        ),
        (
            "a merge without a space".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&["ab"])),
        ),
        (
            "a merge of one part".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&["a "])),
        ),
        (
            "a merge of three parts".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&["a b c"])),
        ),
        (
            "an empty merge".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&[""])),
        ),
        (
            "a merge of unknown tokens".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&["x y"])),
        ),
        (
            "a merge whose result is no token".into(),
            false,
            false,
            set("tokenizer.ggml.merges", strings(&["b c"])),
        ),
        (
            "merges as numbers".into(),
            false,
            false,
            set("tokenizer.ggml.merges", i32s(vec![1])),
        ),
        (
            "pre-tokenizer unknown".into(),
            false,
            false,
            set(
                "tokenizer.ggml.pre",
                MetaValue::String("no-such-pre".into()),
            ),
        ),
        (
            "pre-tokenizer a number".into(),
            false,
            false,
            set("tokenizer.ggml.pre", MetaValue::U32(1)),
        ),
        (
            "add_bos_token a string".into(),
            false,
            false,
            set(
                "tokenizer.ggml.add_bos_token",
                MetaValue::String("yes".into()),
            ),
        ),
        (
            "add_bos_token 5".into(),
            false,
            false,
            set("tokenizer.ggml.add_bos_token", MetaValue::U32(5)),
        ),
        // SentencePiece.
        (
            "spm: scores missing".into(),
            true,
            false,
            remove("tokenizer.ggml.scores"),
        ),
        (
            "spm: 7 scores".into(),
            true,
            false,
            set("tokenizer.ggml.scores", f32s(vec![0.0; 7])),
        ),
        (
            "spm: NaN score".into(),
            true,
            false,
            set(
                "tokenizer.ggml.scores",
                f32s(vec![0.0, 0.0, 0.0, 0.0, f32::NAN, -2.0, -0.5, -3.0]),
            ),
        ),
        (
            "spm: scores as strings".into(),
            true,
            false,
            set("tokenizer.ggml.scores", strings(&TOKENS)),
        ),
        (
            "spm: unknown_token_id 8".into(),
            true,
            false,
            set("tokenizer.ggml.unknown_token_id", MetaValue::U32(8)),
        ),
        (
            "spm: byte token not hex".into(),
            true,
            false,
            set(
                "tokenizer.ggml.tokens",
                strings(&["<unk>", "<s>", "</s>", "<0xZZ>", "a", "b", "▁a", "▁"]),
            ),
        ),
    ];
    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.eot_token_id",
    ] {
        for (label, v) in [
            ("8", MetaValue::U32(8)),
            ("2^32-1", MetaValue::U32(u32::MAX)),
            ("-1 (i32)", MetaValue::I32(-1)),
            ("a string", MetaValue::String("0".into())),
        ] {
            edits.push((format!("{key} = {label}"), false, false, set(key, v)));
        }
    }
    edits
        .into_iter()
        .enumerate()
        .map(|(i, (name, is_spm, ok, edit))| {
            let mut m = if is_spm { spm() } else { TinyGguf::llama() };
            edit(&mut m);
            let ok = ok || LLAMA_CPP_ACCEPTS.iter().any(|a| name.contains(a));
            let c = run_case(GROUP, i, name, &m);
            if ok {
                c.or_ok()
            } else {
                c
            }
        })
        .collect()
}
