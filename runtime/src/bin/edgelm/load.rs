//! Shared start-up: thread pool, model and tokenizer, timed.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::model::Model;
use edgelm_runtime::tokenizer::Tokenizer;

pub struct Loaded {
    pub model: Arc<Model>,
    pub tokenizer: Tokenizer,
    pub load_ms: f64,
}

pub fn load(path: &Path) -> Result<Loaded> {
    load_checked(path, |_| Ok(()))
}

/// [`load`], after `check` has seen the file's header (the memory plan), before any
/// weight is touched.
pub fn load_checked(path: &Path, check: impl FnOnce(&GgufFile) -> Result<()>) -> Result<Loaded> {
    let start = Instant::now();
    let file = GgufFile::open(path)?;
    check(&file)?;
    let model = Model::load_file(file)?;
    let tokenizer = Tokenizer::from_gguf(&model.file)
        .with_context(|| format!("{}: reading the tokenizer", path.display()))?;
    edgelm_runtime::model::check_vocab(path, &tokenizer, model.vocab_size())?;
    Ok(Loaded {
        model: Arc::new(model),
        tokenizer,
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The worker count for `--threads` (0: one per performance core), and why.
pub fn thread_count(threads: usize) -> Result<(usize, String)> {
    // More workers than a few per logical CPU only adds start-up time (100,000 took
    // minutes to spawn).
    let most = 4 * std::thread::available_parallelism().map_or(64, |n| n.get());
    if threads > most {
        bail!("--threads {threads}: at most {most} on this machine (4 per logical CPU)");
    }
    Ok(match threads {
        0 => {
            let c = edgelm_runtime::cpu_cores::default_threads();
            (c.threads, c.reason)
        }
        n => (n, "--threads".into()),
    })
}

/// A rayon pool of `threads` workers (0: one per performance core).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    let (n, _) = thread_count(threads)?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("starting the thread pool")
}

/// The whole text of `path`, which must be a regular file (a FIFO would block and a
/// device could be endless).
pub fn read_text_file(path: &std::path::Path, what: &str) -> Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read {what}", path.display()))?;
    if !meta.is_file() {
        bail!("{}: {what} is not a regular file", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read {what}", path.display()))
}

pub const MIB: f64 = 1024.0 * 1024.0;
