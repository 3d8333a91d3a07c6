//! Small hand-built vocabularies; the fixtures in tests/ compare against real references.

use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Byte-level vocabulary: the 256 byte characters, "ab", "abc", "Ġab", two control tokens.
fn tiny_bpe() -> TokenizerSpec {
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| byte_level::byte_to_char(b).to_string())
        .collect();
    tokens.extend(strings(&["ab", "abc", "Ġab", "<|s|>", "<|e|>"]));
    let mut types = vec![1; tokens.len()];
    types[259] = 3;
    types[260] = 3;
    TokenizerSpec {
        model: "gpt2".into(),
        pre: Some("gpt2".into()),
        tokens,
        token_types: Some(types),
        merges: Some(strings(&["a b", "ab c", "Ġ ab"])),
        bos: Some(259),
        eos: Some(260),
        add_bos: true,
        ..Default::default()
    }
}

#[test]
fn bpe_merges_and_specials() {
    let t = Tokenizer::from_spec(tiny_bpe()).unwrap();
    assert_eq!(t.encode("abc ab", false, false), vec![257, 258]);
    assert_eq!(t.encode("abc", true, false), vec![259, 257]);
    // Control text is plain text unless parse_special.
    assert_eq!(t.encode("<|e|>", false, true), vec![260]);
    assert_eq!(t.encode("<|e|>", false, false).len(), 5);
    assert!(t.is_eog(260) && !t.is_eog(259));
    assert_eq!(t.decode(&[259, 257, 258, 260]), "abc ab");
    assert_eq!(t.token_to_piece(260, true), b"<|e|>");
    assert!(t.decode_token(260).is_empty());
    assert!(t.decode_token(9999).is_empty());
}

#[test]
fn bpe_partial_utf8_bytes() {
    let t = Tokenizer::from_spec(tiny_bpe()).unwrap();
    let ids = t.encode("é", false, false);
    assert_eq!(ids, vec![0xC3, 0xA9]);
    assert_eq!(t.decode_token(ids[0]), vec![0xC3]);
    assert_eq!(t.decode(&ids), "é");
}

#[test]
fn spm_byte_fallback_and_prefix() {
    let mut tokens = strings(&["<unk>", "<s>", "</s>"]);
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    tokens.extend(strings(&["▁", "h", "i", "▁h", "▁hi"]));
    let mut types = vec![2, 3, 3];
    types.extend(std::iter::repeat_n(6, 256));
    types.extend([1; 5]);
    let mut scores = vec![0.0; tokens.len()];
    let n = tokens.len();
    scores[n - 2] = -1.0;
    scores[n - 1] = -0.5;
    let t = Tokenizer::from_spec(TokenizerSpec {
        model: "llama".into(),
        tokens,
        scores: Some(scores),
        token_types: Some(types),
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        add_bos: true,
        add_space_prefix: true,
        ..Default::default()
    })
    .unwrap();
    let hi = (n - 1) as u32;
    // "é" is not a token: its two UTF-8 bytes come out as <0xC3> <0xA9>.
    assert_eq!(
        t.encode("hi é", true, false),
        vec![1, hi, 259, 3 + 0xC3, 3 + 0xA9]
    );
    assert_eq!(t.decode(&t.encode("hi é", true, false)), "hi é");
}

#[test]
fn errors_name_the_problem() {
    let mut s = tiny_bpe();
    s.pre = Some("mystery".into());
    let e = Tokenizer::from_spec(s).unwrap_err().to_string();
    assert!(e.contains("mystery") && e.contains("qwen2"), "{e}");

    let mut s = tiny_bpe();
    s.model = "wordpiece".into();
    assert!(matches!(
        Tokenizer::from_spec(s),
        Err(TokenizerError::UnknownModel(_))
    ));

    let mut s = tiny_bpe();
    s.merges = None;
    assert!(matches!(
        Tokenizer::from_spec(s),
        Err(TokenizerError::MissingMerges)
    ));

    let mut s = tiny_bpe();
    s.scores = Some(vec![0.0; 3]);
    assert!(matches!(
        Tokenizer::from_spec(s),
        Err(TokenizerError::LengthMismatch { got: 3, .. })
    ));

    let mut s = tiny_bpe();
    s.merges = Some(strings(&["ab"]));
    assert!(matches!(
        Tokenizer::from_spec(s),
        Err(TokenizerError::BadMerge { index: 0, .. })
    ));

    let s = TokenizerSpec {
        model: "gpt2".into(),
        ..Default::default()
    };
    assert!(matches!(
        Tokenizer::from_spec(s),
        Err(TokenizerError::EmptyVocab)
    ));
}

#[test]
fn llama3_takes_whole_words_from_the_vocabulary() {
    // Merge order never reaches "abc" ("b c" wins first), but Llama 3 vocabularies look the
    // whole piece up before merging (HF `ignore_merges`: [5] with it, [0, 3] without).
    let spec = |pre: &str| TokenizerSpec {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens: strings(&["a", "b", "c", "bc", "ab", "abc"]),
        merges: Some(strings(&["b c", "a b", "ab c"])),
        ..Default::default()
    };
    let llama3 = Tokenizer::from_spec(spec("llama-bpe")).unwrap();
    assert_eq!(llama3.encode("abc", false, false), vec![5]);
    let gpt2 = Tokenizer::from_spec(spec("gpt2")).unwrap();
    assert_eq!(gpt2.encode("abc", false, false), vec![0, 3]);
}

#[test]
fn eog_texts_start_with_the_byte_build_filters_on() {
    assert!(special::EOG_TEXTS.iter().all(|t| t.starts_with('<')));
}
