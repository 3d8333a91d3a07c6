//! Shared start-up: thread pool, model and tokenizer, timed.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use edgelm_runtime::model::Model;
use edgelm_runtime::tokenizer::Tokenizer;

pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub load_ms: f64,
}

pub fn load(path: &Path) -> Result<Loaded> {
    let start = Instant::now();
    let model = Model::load(path)?;
    let tokenizer = Tokenizer::from_gguf(&model.file)
        .with_context(|| format!("{}: reading the tokenizer", path.display()))?;
    Ok(Loaded {
        model,
        tokenizer,
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// A rayon pool of `threads` workers (0: one per physical core).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    let n = if threads == 0 {
        edgelm_runtime::metrics::physical_cores()
    } else {
        threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("starting the thread pool")
}

pub const MIB: f64 = 1024.0 * 1024.0;
