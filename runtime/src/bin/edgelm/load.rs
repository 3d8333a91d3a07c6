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
    let file = open_gguf(path)?;
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

/// Opens a GGUF file, saying what to do when `path` is a Hugging Face checkpoint (its
/// folder or one of its safetensors files) rather than the GGUF made from it: mapping a
/// folder fails with an OS error that tells a newcomer nothing.
pub fn open_gguf(path: &Path) -> Result<GgufFile> {
    if let Some(what) = checkpoint_kind(path) {
        bail!(
            "{}: {what}, not a GGUF file; compress it into one first: \
             edgelm-compress -i {} -o model.gguf -q Q4_K_M",
            path.display(),
            checkpoint_dir(path).display()
        );
    }
    if path.is_dir() {
        bail!("{}: a folder, not a GGUF file", path.display());
    }
    Ok(GgufFile::open(path)?)
}

/// What Hugging Face checkpoint `path` is, if it is one.
fn checkpoint_kind(path: &Path) -> Option<&'static str> {
    if path.is_dir() {
        let has_weights = std::fs::read_dir(path).ok()?.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".safetensors") || name == "pytorch_model.bin"
        });
        let has_config = path.join("config.json").is_file();
        return (has_weights || has_config).then_some("a Hugging Face checkpoint folder");
    }
    let ext = path.extension()?.to_str()?;
    (ext == "safetensors").then_some("a safetensors file of a Hugging Face checkpoint")
}

/// The folder edgelm-compress wants: `path` itself, or the folder a file is in.
fn checkpoint_dir(path: &Path) -> &Path {
    if path.is_dir() {
        return path;
    }
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
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
