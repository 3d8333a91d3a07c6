//! `edgelm perplexity`: llama-perplexity's estimate on a text file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::perplexity::perplexity;
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;

use crate::load::{load, read_text_file, thread_pool};

#[derive(Args)]
pub struct PerplexityArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Text file to score.
    #[arg(short, long)]
    file: PathBuf,
    /// Chunk size in tokens.
    #[arg(short, long, default_value_t = 512)]
    ctx: usize,
    /// Worker threads; 0 (the default): one per performance core, hyper-threads not
    /// counted.
    #[arg(short, long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Reference mode: f32 weights, activations and KV cache.
    #[arg(long)]
    precise: bool,
    /// KV cache element type (see `edgelm run --help`); --precise always uses f32.
    #[arg(long, value_parser = KvType::NAMES, default_value = "f16")]
    kv_type: String,
    /// Score at most this many chunks.
    #[arg(long)]
    chunks: Option<usize>,
}

pub fn main(a: PerplexityArgs) -> Result<()> {
    if a.chunks == Some(0) {
        bail!("--chunks 0: nothing to score");
    }
    let text = read_text_file(&a.file, "the text")?;
    let pool = thread_pool(a.threads)?;
    pool.install(|| {
        let loaded = load(&a.model)?;
        let tok = &loaded.tokenizer;
        let mut tokens = tok.encode(&text, true, false);
        // Every count in a message is the whole text's, before --chunks cuts it.
        let in_text = tokens.len();
        // A chunk scores its second half: fewer than 4 tokens leave nothing to score.
        if a.ctx < 4 {
            bail!(
                "-c/--ctx {}: too small, a chunk needs at least 4 tokens ({} has {in_text} \
                 tokens; the default chunk is 512)",
                a.ctx,
                a.file.display()
            );
        }
        if in_text < a.ctx {
            bail!(
                "{}: the text has {in_text} tokens, fewer than one chunk of -c/--ctx {}; \
                 give a smaller -c or a longer text",
                a.file.display(),
                a.ctx
            );
        }
        if let Some(c) = a.chunks {
            tokens.truncate(c.saturating_mul(a.ctx));
        }
        let opts = SessionOptions {
            n_ctx: a.ctx,
            kv_type: if a.precise {
                KvType::F32
            } else {
                a.kv_type.parse().map_err(anyhow::Error::msg)?
            },
            precision: if a.precise {
                Precision::Precise
            } else {
                Precision::Fast
            },
            n_batch: a.ctx,
        };
        let mut session = Session::new(Arc::clone(&loaded.model), &opts)?;
        eprintln!(
            "perplexity: {} of the text's {in_text} tokens, {} chunks of {}, {} threads",
            tokens.len(),
            tokens.len() / a.ctx,
            a.ctx,
            rayon::current_num_threads()
        );
        let bos = if tok.add_bos() { tok.bos() } else { None };
        let start = Instant::now();
        let est = perplexity(&mut session, &tokens, bos, |i, e| {
            eprint!("[{}]{:.4},", i + 1, e.ppl);
        })?;
        eprintln!();
        println!("Final estimate: PPL = {:.4} +/- {:.5}", est.ppl, est.error);
        eprintln!(
            "{} chunks, {} scored tokens, {:.1} s",
            est.chunks,
            est.scored_tokens,
            start.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
