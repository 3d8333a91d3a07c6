//! SentencePiece BPE against `sentencepiece` itself: a tiny model trained by
//! tests/fixtures/tokenizer/make_fixtures.py (byte fallback on, identity normalization).

use edgelm_runtime::tokenizer::{Tokenizer, TokenizerSpec};
use serde_json::Value;

fn fixture() -> Value {
    let path = edgelm_tests::fixtures_dir().join("tokenizer/spm_tiny.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tokenizer(f: &Value) -> Tokenizer {
    let id = |k: &str| f[k].as_u64().map(|v| v as u32);
    Tokenizer::from_spec(TokenizerSpec {
        model: "llama".into(),
        tokens: f["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
        scores: Some(
            f["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_f64().unwrap() as f32)
                .collect(),
        ),
        token_types: Some(
            f["token_types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap() as i32)
                .collect(),
        ),
        bos: id("bos"),
        eos: id("eos"),
        unk: id("unk"),
        add_bos: true,
        add_space_prefix: true,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn matches_sentencepiece() {
    let f = fixture();
    let tok = tokenizer(&f);
    let bos = tok.bos().unwrap();
    let mut failures = Vec::new();
    let cases = f["cases"].as_array().unwrap();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want = ids(&c["ids"]);
        let got = tok.encode(text, false, false);
        if got != want {
            failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
        }
        // With add_special, BOS comes first (add_bos is on for SentencePiece vocabularies).
        let with_bos = tok.encode(text, true, false);
        assert_eq!(with_bos.first(), Some(&bos));
        assert_eq!(&with_bos[1..], &got[..]);
        // Decoding matches sentencepiece's, with or without BOS.
        let decoded = c["decoded"].as_str().unwrap();
        assert_eq!(tok.decode(&got), decoded, "decode of {text:?}");
        assert_eq!(
            tok.decode(&with_bos),
            decoded,
            "decode with BOS of {text:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} texts differ from sentencepiece:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn unseen_characters_fall_back_to_bytes() {
    let f = fixture();
    let tok = tokenizer(&f);
    let ids = tok.encode("😀", false, false);
    // "▁" then the emoji's four UTF-8 bytes as <0xF0> <0x9F> <0x98> <0x80>.
    let pieces: Vec<&str> = ids.iter().map(|&i| tok.token_str(i).unwrap()).collect();
    assert_eq!(
        pieces[pieces.len() - 4..],
        ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    );
    // A stream sees the raw bytes one at a time.
    let bytes: Vec<u8> = ids.iter().flat_map(|&i| tok.decode_token(i)).collect();
    assert_eq!(bytes, " 😀".as_bytes());
}

#[test]
fn control_tokens_are_parsed_only_when_asked() {
    let f = fixture();
    let tok = tokenizer(&f);
    let eos = tok.eos().unwrap();
    assert!(tok.is_eog(eos));
    let parsed = tok.encode("hello</s>", false, true);
    assert_eq!(parsed.last(), Some(&eos));
    let plain = tok.encode("hello</s>", false, false);
    assert!(!plain.contains(&eos));
    assert_eq!(tok.decode(&plain), "hello</s>");
    assert_eq!(tok.decode(&parsed), "hello");
}
