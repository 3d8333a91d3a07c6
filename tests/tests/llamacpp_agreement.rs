//! The fast path against llama.cpp on the same file (tests/fixtures/llamacpp/): the
//! perplexity of a fixed English text, greedy completions and token ids, for SmolLM2
//! (`llama`, BPE) and Gemma 3 270M (`gemma3`, SentencePiece).

use std::path::PathBuf;
use std::sync::Arc;

use edgelm_runtime::generate::generate;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::perplexity::perplexity;
use edgelm_runtime::sampler::{Sampler, SamplerConfig};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_tests::{fixtures_dir, gemma3_path, smollm2_path};
use serde_json::Value;

/// A real model and what llama.cpp made of it.
struct Case {
    path: fn() -> Option<PathBuf>,
    /// The reference JSON, and the perplexity text's ids, in tests/fixtures/llamacpp/.
    reference: &'static str,
    tokens: &'static str,
    /// The key of the original file's perplexity in the reference.
    ppl: &'static str,
}

const CASES: [Case; 2] = [
    Case {
        path: smollm2_path,
        reference: "llamacpp_reference.json",
        tokens: "gpl-3.tokens.json",
        ppl: "Q4_1 (original)",
    },
    Case {
        path: gemma3_path,
        reference: "gemma3_reference.json",
        tokens: "gpl-3.gemma3.tokens.json",
        ppl: "original",
    },
];

fn json(name: &str) -> Value {
    let p = fixtures_dir().join("llamacpp").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn perplexity_is_within_half_a_percent_of_llama_perplexity() {
    for case in &CASES {
        let Some(path) = (case.path)() else { continue };
        perplexity_case(&path, &json(case.reference)["perplexity"][case.ppl]);
    }
}

fn perplexity_case(path: &std::path::Path, r: &Value) {
    let model = Arc::new(Model::load(path).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let text = std::fs::read_to_string(fixtures_dir().join("text/gpl-3.txt")).unwrap();
    let tokens = tok.encode(text.strip_suffix('\n').unwrap(), true, false);
    let n_ctx = 256;
    let opts = SessionOptions {
        n_ctx,
        n_batch: n_ctx,
        ..SessionOptions::default()
    };
    let mut session = Session::new(Arc::clone(&model), &opts).unwrap();
    // As llama-perplexity: each chunk starts with BOS where the model adds one.
    let bos = tok.bos().filter(|_| tok.add_bos());
    let est = perplexity(&mut session, &tokens, bos, |_, _| {}).unwrap();
    let want = r["ppl"].as_f64().unwrap();
    let rel = (est.ppl - want).abs() / want;
    eprintln!(
        "{}: edgelm {:.4} +/- {:.5}, llama.cpp {want} ({:.3}% apart)",
        path.display(),
        est.ppl,
        est.error,
        rel * 100.0
    );
    assert_eq!(est.chunks as u64, r["n_chunks"].as_u64().unwrap());
    assert_eq!(
        est.scored_tokens as u64,
        r["scored_tokens"].as_u64().unwrap()
    );
    assert!(rel < 0.005, "{} vs llama.cpp {want}", est.ppl);
    let err_want = r["ppl_err"].as_f64().unwrap();
    assert!((est.error - err_want).abs() / err_want < 0.02);
}

#[test]
fn greedy_text_equals_llama_cpp() {
    for case in &CASES {
        let Some(path) = (case.path)() else { continue };
        greedy_case(&path, &json(case.reference)["greedy"]);
    }
}

/// Below this logit margin between the two best tokens (our f32 forward on llama.cpp's
/// own continuation) a step is a near-tie, where 8-bit activations, ggml's GELU table
/// or summation order may pick either token.
const NEAR_TIE: f32 = 0.05;

fn greedy_case(path: &std::path::Path, r: &Value) {
    let model = Arc::new(Model::load(path).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    for (name, c) in r.as_object().unwrap() {
        let prompt = tok.encode(c["prompt"].as_str().unwrap(), true, true);
        let mut session = Session::new(Arc::clone(&model), &SessionOptions::default()).unwrap();
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        });
        let g = generate(
            &mut session,
            &mut sampler,
            &prompt,
            32,
            |t| tok.is_eog(t),
            |_| std::ops::ControlFlow::Continue(()),
        )
        .unwrap();
        let want_text = c["generated_text"].as_str().unwrap();
        if tok.decode(&g.tokens) == want_text {
            continue;
        }
        // They part: only at a near-tie, after identical tokens.
        let want = ids(&c["retokenized_ids"]);
        assert_eq!(want.len() as u64, c["n_generated"].as_u64().unwrap());
        let k = g
            .tokens
            .iter()
            .zip(&want)
            .take_while(|(a, b)| a == b)
            .count();
        let opts = SessionOptions {
            kv_type: edgelm_runtime::kv_cache::KvType::F32,
            precision: edgelm_runtime::Precision::Precise,
            ..SessionOptions::default()
        };
        let mut s = Session::new(Arc::clone(&model), &opts).unwrap();
        let context: Vec<u32> = prompt.iter().chain(&want[..k]).copied().collect();
        let logits = s.eval(&context, LogitsFor::Last).unwrap();
        let mut top: Vec<f32> = logits.to_vec();
        top.sort_by(|a, b| b.total_cmp(a));
        let margin = top[0] - top[1];
        eprintln!(
            "{} {name}: equal for {k} tokens, then a margin of {margin:.4} (ours {}, llama.cpp {})",
            path.display(),
            g.tokens[k],
            want[k]
        );
        assert!(
            margin < NEAR_TIE,
            "{} {name}: parts from llama.cpp after {k} tokens where the margin is {margin}: \
             {:?} vs {want_text:?}",
            path.display(),
            tok.decode(&g.tokens)
        );
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn token_ids_equal_llama_tokenize() {
    for case in &CASES {
        let Some(path) = (case.path)() else { continue };
        tokenize_case(&path, &json(case.reference)["tokenize"], &json(case.tokens));
    }
}

fn tokenize_case(path: &std::path::Path, r: &Value, want: &Value) {
    let f = edgelm_runtime::gguf::GgufFile::open(path).unwrap();
    let tok = Tokenizer::from_gguf(&f).unwrap();
    for c in r.as_object().unwrap().values() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode(text, true, false), ids(&c["ids"]), "{text:?}");
    }
    // The whole perplexity text, as llama-perplexity reads it (no final newline).
    let text = std::fs::read_to_string(fixtures_dir().join("text/gpl-3.txt")).unwrap();
    let got = tok.encode(text.strip_suffix('\n').unwrap(), true, false);
    assert_eq!(got, ids(&want["ids"]), "{}", path.display());
}
