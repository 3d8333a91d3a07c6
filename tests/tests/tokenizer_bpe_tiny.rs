//! Byte-level BPE with each pre-tokenizer against HF `tokenizers`: tiny tokenizers trained
//! by tests/fixtures/tokenizer/make_fixtures.py with the pre-tokenizer's own regex.

use edgelm_runtime::tokenizer::{Tokenizer, TokenizerSpec};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = edgelm_tests::fixtures_dir().join("tokenizer").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// An HF tokenizer.json turned into GGUF-style metadata, as convert_hf_to_gguf.py does:
/// tokens by id, merges as "left right", added special tokens as control tokens.
fn spec_from_hf(json: &Value, pre: &str) -> TokenizerSpec {
    let vocab = json["model"]["vocab"].as_object().unwrap();
    let mut tokens = vec![String::new(); vocab.len()];
    for (text, id) in vocab {
        tokens[id.as_u64().unwrap() as usize] = text.clone();
    }
    let mut types = vec![1; tokens.len()];
    for added in json["added_tokens"].as_array().unwrap() {
        let id = added["id"].as_u64().unwrap() as usize;
        assert_eq!(tokens[id], added["content"].as_str().unwrap());
        types[id] = if added["special"].as_bool().unwrap() {
            3
        } else {
            4
        };
    }
    let merges = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            Value::String(s) => s.clone(),
            Value::Array(p) => format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()),
            other => panic!("merge {other}"),
        })
        .collect();
    TokenizerSpec {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens,
        token_types: Some(types),
        merges: Some(merges),
        eos: Some(0),
        ..Default::default()
    }
}

fn check(fixture: &str, pre_names: &[&str]) {
    let json = load(&format!("bpe_{fixture}.tokenizer.json"));
    let cases = load(&format!("bpe_{fixture}.cases.json"));
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() > 20);
    for pre in pre_names {
        let tok = Tokenizer::from_spec(spec_from_hf(&json, pre)).unwrap();
        assert_eq!(tok.pre_name(), Some(*pre));
        let mut failures = Vec::new();
        for c in cases {
            let text = c["text"].as_str().unwrap();
            let want: Vec<u32> = c["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            // HF matches added special tokens in text, as parse_special does.
            let got = tok.encode(text, false, true);
            if got != want {
                failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
            }
            // Specials print only when asked, so compare the plain-text round trip.
            let plain = tok.encode(text, false, false);
            assert_eq!(tok.decode(&plain), text, "{pre}: round trip of {text:?}");
        }
        assert!(
            failures.is_empty(),
            "{pre}: {} of {} texts differ from HF tokenizers:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn gpt2_pre_tokenizer_matches_hf() {
    check("gpt2", &["gpt2", "gpt-2"]);
}

#[test]
fn llama3_pre_tokenizer_matches_hf() {
    check("llama3", &["llama-bpe", "llama3"]);
}

#[test]
fn qwen2_pre_tokenizer_matches_hf() {
    check("qwen2", &["qwen2"]);
}

#[test]
fn default_pre_tokenizer_matches_hf() {
    check("default", &["default"]);
}

#[test]
fn missing_pre_means_default() {
    let json = load("bpe_default.tokenizer.json");
    let mut spec = spec_from_hf(&json, "default");
    spec.pre = None;
    let none = Tokenizer::from_spec(spec).unwrap();
    let default = Tokenizer::from_spec(spec_from_hf(&json, "default")).unwrap();
    let text = "Numbers 12345, punctuation!!! and (brackets)";
    assert_eq!(
        none.encode(text, false, false),
        default.encode(text, false, false)
    );
}

#[test]
fn different_pre_tokenizers_split_differently() {
    // Guards against the name being ignored: digits group by 3 only with Llama 3's regex.
    let json = load("bpe_llama3.tokenizer.json");
    let llama3 = Tokenizer::from_spec(spec_from_hf(&json, "llama-bpe")).unwrap();
    let qwen2 = Tokenizer::from_spec(spec_from_hf(&json, "qwen2")).unwrap();
    let text = "12345 678";
    assert_ne!(
        llama3.encode(text, false, false),
        qwen2.encode(text, false, false)
    );
}
