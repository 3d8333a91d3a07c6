//! Tiny random-weight llama / mistral / qwen2 / qwen3 / gemma2 / gemma3 / gpt2 / phi3 models, converted to GGUF by llama.cpp's
//! own convert_hf_to_gguf.py, against transformers' f32 logits for the same ids
//! (tests/fixtures/tiny/, made by make_tiny_models.py).

use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::sampler::argmax;
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, max_abs_diff, read_f32s};
use std::sync::Arc;

fn check(name: &str) {
    let dir = fixtures_dir().join("tiny");
    let meta = edgelm_tests::tiny_meta(name);
    let ids = edgelm_tests::tiny_ids(&meta, "input_ids");
    let want = read_f32s(&dir.join(format!("{name}_logits.f32")));
    let model = Arc::new(Model::load(dir.join(format!("{name}.gguf"))).unwrap());
    assert_eq!(
        model.config.arch.name,
        meta["gguf_architecture"].as_str().unwrap()
    );
    let vocab = model.vocab_size();

    for (precision, kv_type, tol, batch) in [
        (Precision::Precise, KvType::F32, 1e-3, 8),
        // Token by token through the cache must give the same logits.
        (Precision::Precise, KvType::F32, 1e-3, 1),
        (Precision::Fast, KvType::F16, 5e-2, 3),
    ] {
        let opts = SessionOptions {
            n_ctx: 64,
            kv_type,
            precision,
            n_batch: batch,
        };
        let mut s = Session::new(Arc::clone(&model), &opts).unwrap();
        let got = s.eval(&ids, LogitsFor::All).unwrap();
        let d = max_abs_diff(&got, &want);
        eprintln!("{name}: {precision:?} batch {batch}: max |diff| {d:.2e}");
        assert!(
            d < tol,
            "{name} {precision:?} batch {batch}: max |diff| {d}"
        );
        let argmax_got: Vec<u32> = got.chunks_exact(vocab).map(argmax).collect();
        let argmax_want = edgelm_tests::tiny_ids(&meta, "argmax");
        assert_eq!(argmax_got, argmax_want, "{name}");
    }

    // Greedy continuation (margins are >= 0.1 by construction).
    let opts = SessionOptions {
        n_ctx: 64,
        kv_type: KvType::F32,
        precision: Precision::Precise,
        n_batch: 8,
    };
    let mut s = Session::new(Arc::clone(&model), &opts).unwrap();
    let mut logits = s.eval(&ids, LogitsFor::Last).unwrap();
    let mut greedy = Vec::new();
    for _ in 0..8 {
        let t = argmax(&logits);
        greedy.push(t);
        logits = s.eval(&[t], LogitsFor::Last).unwrap();
    }
    let want = edgelm_tests::tiny_ids(&meta, "greedy_ids");
    assert_eq!(greedy, want, "{name} greedy");
}

#[test]
fn llama_tied_embeddings() {
    check("llama");
}

#[test]
fn mistral_style_llama_with_separate_output() {
    check("mistral");
}

#[test]
fn qwen2_with_biases_and_neox_rope() {
    check("qwen2");
}

#[test]
fn gemma3_with_qk_norms_post_norms_geglu_and_sliding_windows() {
    check("gemma3");
}

#[test]
fn qwen3_with_qk_norms() {
    check("qwen3");
}

#[test]
fn gpt2_with_learned_positions_layer_norms_and_fused_qkv() {
    check("gpt2");
}

#[test]
fn phi3_with_fused_qkv_and_gate_up() {
    check("phi3");
}

#[test]
fn gemma2_with_soft_capping_and_alternating_windows() {
    check("gemma2");
}

#[test]
fn llama_with_linear_rope_scaling() {
    check("llama_linear");
}

#[test]
fn gemma3_with_linear_rope_scaling_on_its_global_layers() {
    check("gemma3_linear");
}
