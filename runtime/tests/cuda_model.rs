//! The model on the GPU against the CPU backend: logits within 1e-2 of the CPU's
//! precise path (f32 activations, f16 KV cache, as the GPU computes) and the same
//! greedy tokens, on the tiny llama/mistral/qwen2 fixtures and, when the file is
//! there, on SmolLM2-135M with the reference prompts (tests/fixtures/reference).
//! Without a GPU each test prints why it skipped; EDGELM_REQUIRE_GPU=1 makes a
//! skip a failure.
#![cfg(feature = "cuda")]

use std::path::PathBuf;
use std::sync::Arc;

use edgelm_runtime::device::Device;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::sampler::argmax;
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn skip(why: &str) {
    let msg = format!("skipped: {why}");
    assert!(
        std::env::var("EDGELM_REQUIRE_GPU").as_deref() != Ok("1"),
        "{msg}"
    );
    eprintln!("{msg}");
}

fn opts(n_batch: usize) -> SessionOptions {
    SessionOptions {
        n_ctx: 256,
        kv_type: KvType::F16,
        precision: Precision::Precise,
        n_batch,
    }
}

/// A CPU and a GPU session, or `None` (after saying why) without a usable GPU.
fn sessions(model: &Arc<Model>, n_batch: usize) -> Option<(Session, Session)> {
    let cpu = Session::with_device(Arc::clone(model), &opts(n_batch), Device::Cpu).unwrap();
    match Session::with_device(Arc::clone(model), &opts(n_batch), Device::Cuda) {
        Ok(gpu) => Some((cpu, gpu)),
        Err(e) => {
            skip(&format!("no usable GPU: {e}"));
            None
        }
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Greedy continuation of `prompt` for `n` tokens, stopping after `eos` if given.
fn greedy(s: &mut Session, prompt: &[u32], n: usize, eos: Option<u32>) -> Vec<u32> {
    s.reset();
    let mut logits = s.eval(prompt, LogitsFor::Last).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let t = argmax(&logits);
        out.push(t);
        if Some(t) == eos || out.len() == n {
            break;
        }
        logits = s.eval(&[t], LogitsFor::Last).unwrap();
    }
    out
}

#[test]
fn tiny_models_match_cpu_logits_and_reference_greedy_tokens() {
    for name in ["llama", "mistral", "qwen2"] {
        let dir = fixtures().join("tiny");
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let model = Arc::new(Model::load(dir.join(format!("{name}.gguf"))).unwrap());
        // Batches of 3: prefill crosses batch boundaries (pos0 > 0 within a prompt).
        let Some((mut cpu, mut gpu)) = sessions(&model, 3) else {
            return;
        };
        let input = ids(&meta["input_ids"]);
        let want = cpu.eval(&input, LogitsFor::All).unwrap();
        let got = gpu.eval(&input, LogitsFor::All).unwrap();
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-2, "{name}: GPU logits differ from the CPU's by {d}");

        let reference = ids(&meta["greedy_ids"]);
        let got = greedy(&mut gpu, &input, reference.len(), None);
        assert_eq!(got, reference, "{name}: GPU greedy tokens");
        assert_eq!(greedy(&mut cpu, &input, reference.len(), None), reference);
    }
}

fn smollm2_path() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("EDGELM_SMOLLM2").map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

#[test]
fn smollm2_matches_cpu_logits_and_reference_greedy_text() {
    let Some(path) = smollm2_path() else {
        // Not a GPU problem: the real model is optional (CI fetches it).
        eprintln!("skipped: models/SmolLM2-135M-Instruct.Q4_1.gguf not found (set EDGELM_SMOLLM2)");
        return;
    };
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("reference/smollm2_greedy.json")).unwrap(),
    )
    .unwrap();
    let model = Arc::new(Model::load(&path).unwrap());
    let Some((mut cpu, mut gpu)) = sessions(&model, 64) else {
        return;
    };
    let eos = reference["eos_id"].as_u64().map(|e| e as u32);
    for p in reference["prompts"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let prompt = ids(&p["prompt_ids"]);
        cpu.reset();
        gpu.reset();
        let want = cpu.eval(&prompt, LogitsFor::All).unwrap();
        let got = gpu.eval(&prompt, LogitsFor::All).unwrap();
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-2, "{name}: GPU logits differ from the CPU's by {d}");

        let expected = ids(&p["generated_ids"]);
        let cpu_ids = greedy(&mut cpu, &prompt, expected.len(), eos);
        let gpu_ids = greedy(&mut gpu, &prompt, expected.len(), eos);
        assert_eq!(gpu_ids, cpu_ids, "{name}: GPU and CPU greedy tokens");
        assert_eq!(
            gpu_ids, expected,
            "{name}: GPU greedy tokens vs transformers"
        );
    }
}
