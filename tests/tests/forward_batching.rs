//! The forward pass gives bit-identical logits whether a prompt is evaluated in
//! batches (tiled matrix products, several queries per attention pass) or token by
//! token, and whatever the number of threads: every output element is computed by
//! the same kernels on the same inputs, only the work is split differently.

use std::path::Path;
use std::sync::Arc;

use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, smollm2_path};

fn logits(model: &Arc<Model>, ids: &[u32], p: Precision, threads: usize, batch: usize) -> Vec<f32> {
    let opts = SessionOptions {
        n_ctx: 64,
        kv_type: match p {
            Precision::Fast => KvType::F16,
            Precision::Precise => KvType::F32,
        },
        precision: p,
        n_batch: batch,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut s = pool
        .install(|| Session::new(Arc::clone(model), &opts))
        .unwrap();
    assert_eq!(s.threads(), threads);
    s.eval(ids, LogitsFor::All).unwrap()
}

fn check(path: &Path, ids: &[u32]) {
    let model = Arc::new(Model::load(path).unwrap());
    for p in [Precision::Fast, Precision::Precise] {
        let want = logits(&model, ids, p, 1, 1);
        assert_eq!(want.len(), ids.len() * model.vocab_size());
        assert!(want.iter().all(|v| v.is_finite()));
        for (threads, batch) in [(1, 64), (2, 1), (2, 13), (3, 64), (5, 9)] {
            let got = logits(&model, ids, p, threads, batch);
            let diff = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                diff.is_none(),
                "{} {p:?}: {threads} threads, batches of {batch}: logit {} is {} (token by token on 1 thread: {})",
                path.display(),
                diff.unwrap(),
                got[diff.unwrap()],
                want[diff.unwrap()]
            );
        }
    }
}

/// Ids covering several token tiles: the tiny models' prompts repeated.
fn tiny_ids(name: &str) -> Vec<u32> {
    let meta = edgelm_tests::tiny_meta(name);
    let ids = edgelm_tests::tiny_ids(&meta, "input_ids");
    ids.iter().cycle().take(30).copied().collect()
}

#[test]
fn tiny_models_batched_equals_token_by_token() {
    for name in ["llama", "mistral", "qwen2"] {
        check(
            &fixtures_dir().join(format!("tiny/{name}.gguf")),
            &tiny_ids(name),
        );
    }
}

#[test]
fn smollm2_batched_equals_token_by_token() {
    let Some(path) = smollm2_path() else { return };
    // Arbitrary ids spread over the vocabulary.
    let ids: Vec<u32> = (0..21u32).map(|i| 100 + i * 997 % 40000).collect();
    check(&path, &ids);
}
