//! End to end on the real model (models/SmolLM2-135M-Instruct.Q4_1.gguf, fetched by
//! runtime/scripts/fetch-smollm2.sh): prefill of a 128-token prompt and single-token
//! decode steps. Skipped with a note when the model is absent.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::session::{Session, SessionOptions};

fn bench(c: &mut Criterion) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        eprintln!(
            "skipping: {} not found (run runtime/scripts/fetch-smollm2.sh)",
            path.display()
        );
        return;
    }
    let model = Arc::new(Model::load(&path).expect("load model"));
    let prompt: Vec<u32> = (0..128u32).map(|i| 100 + i * 7).collect();
    let opts = SessionOptions {
        n_ctx: 512,
        n_batch: 128,
        ..SessionOptions::default()
    };
    let mut group = c.benchmark_group("smollm2_q4_1");
    group.sample_size(10);
    group.throughput(Throughput::Elements(prompt.len() as u64));
    group.bench_function("prefill_128", |b| {
        let mut s = Session::new(Arc::clone(&model), &opts).unwrap();
        b.iter(|| {
            s.reset();
            s.eval(&prompt, LogitsFor::Last).unwrap()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_step_at_128", |b| {
        let mut s = Session::new(Arc::clone(&model), &opts).unwrap();
        s.eval(&prompt, LogitsFor::Last).unwrap();
        b.iter(|| {
            s.eval(&[504], LogitsFor::Last).unwrap();
            // Stay at position 129 so every step costs the same.
            s.truncate(128);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
