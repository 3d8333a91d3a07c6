//! `edgelm bench`: prompt processing and generation speed measured the way llama-bench
//! measures them (random token ids, a fresh cache per repetition), so the two tools can
//! be compared number for number on the same GGUF file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use edgelm_runtime::device::Device;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::LogitsFor;
use edgelm_runtime::sampler::{argmax, SplitMix64};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use serde_json::json;

use crate::load::{load, thread_pool};

#[derive(Args)]
pub struct BenchArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Prompt tokens processed in one batch (llama-bench -p).
    #[arg(short = 'p', long, default_value_t = 128)]
    prompt: usize,
    /// Tokens generated one at a time (llama-bench -n).
    #[arg(short = 'n', long, default_value_t = 64)]
    gen: usize,
    /// Repetitions of each test (llama-bench -r).
    #[arg(short, long, default_value_t = 5)]
    reps: usize,
    /// Worker threads; 0 (the default): one per performance core, hyper-threads not
    /// counted.
    #[arg(short, long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Tokens already in the context before each test, untimed (llama-bench -d): the
    /// decode speed with the context that full.
    #[arg(short, long, default_value_t = 0)]
    depth: usize,
    /// KV cache element type (see `edgelm run --help`).
    #[arg(long, value_parser = KvType::NAMES, default_value = "f16")]
    kv_type: String,
    /// Where to run: cpu, cuda or auto (see `edgelm run --help`).
    #[arg(long, default_value_t = Device::Auto)]
    device: Device,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Mean and sample standard deviation.
fn stats(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

pub fn main(a: BenchArgs) -> Result<()> {
    anyhow::ensure!(a.reps > 0, "--reps must be at least 1");
    let pool = thread_pool(a.threads)?;
    let threads = pool.current_num_threads();
    pool.install(|| {
        let loaded = load(&a.model)?;
        let model = &loaded.model;
        let opts = SessionOptions {
            n_ctx: (a.depth + a.prompt.max(a.gen)).max(1),
            kv_type: a.kv_type.parse().map_err(anyhow::Error::msg)?,
            precision: Precision::Fast,
            // The depth is filled in batches of 512 (as llama.cpp's default) when the
            // prompt test's batch is smaller.
            n_batch: a.prompt.max(if a.depth > 0 { 512 } else { 1 }),
        };
        let vocab = model.vocab_size() as u64;
        let mut rng = SplitMix64::new(42);
        let mut random_ids =
            |n: usize| -> Vec<u32> { (0..n).map(|_| (rng.next_u64() % vocab) as u32).collect() };
        let mut session = Session::with_device(Arc::clone(model), &opts, a.device)?;
        if let Some(n) = session.notice() {
            eprintln!("edgelm: {n}");
        }
        let backend = match session.gpu_name() {
            Some(g) => format!("CUDA {g}"),
            None => format!("CPU {}", edgelm_kernels::cpu::kernel_set()),
        };
        let gpu_mib = session.gpu_mem_bytes().map(|b| b as f64 / crate::load::MIB);
        // One untimed warm-up of each test, as llama-bench does: the whole prompt, and
        // one generated token (a full-length warm-up would double the work counted by
        // instruction-count comparisons against llama-bench).
        let mut pp = Vec::new();
        let mut tg = Vec::new();
        for rep in 0..=a.reps {
            if a.prompt > 0 {
                session.reset();
                if a.depth > 0 {
                    session.eval(&random_ids(a.depth), LogitsFor::Last)?;
                }
                let ids = random_ids(a.prompt);
                let t = Instant::now();
                session.eval(&ids, LogitsFor::Last)?;
                if rep > 0 {
                    pp.push(a.prompt as f64 / t.elapsed().as_secs_f64());
                }
            }
            if a.gen > 0 {
                session.reset();
                if a.depth > 0 {
                    session.eval(&random_ids(a.depth), LogitsFor::Last)?;
                }
                let mut next = random_ids(1)[0];
                let t = Instant::now();
                for _ in 0..if rep > 0 { a.gen } else { 1 } {
                    let logits = session.eval(&[next], LogitsFor::Last)?;
                    next = argmax(&logits);
                }
                if rep > 0 {
                    tg.push(a.gen as f64 / t.elapsed().as_secs_f64());
                }
            }
        }
        let rss = edgelm_runtime::metrics::peak_rss_mib();
        let name = a.model.file_name().map_or_else(
            || a.model.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let (pp_mean, pp_sd) = stats(&pp);
        let (tg_mean, tg_sd) = stats(&tg);
        if a.json {
            println!(
                "{}",
                json!({
                    "model": name,
                    "threads": threads,
                    "kernels": edgelm_kernels::cpu::kernel_set(),
                    "n_prompt": a.prompt,
                    "n_gen": a.gen,
                    "n_depth": a.depth,
                    "kv_type": a.kv_type,
                    "reps": a.reps,
                    "pp_tok_s": if pp.is_empty() { None } else { Some(pp_mean) },
                    "pp_tok_s_sd": pp_sd,
                    "tg_tok_s": if tg.is_empty() { None } else { Some(tg_mean) },
                    "tg_tok_s_sd": tg_sd,
                    "load_ms": loaded.load_ms,
                    "peak_rss_mib": rss,
                    "device": session.device(),
                    "backend": backend,
                    "gpu_mem_mib": gpu_mib,
                })
            );
        } else {
            // llama-bench's name for a test at a depth: "tg64 @ d900".
            let depth = if a.depth > 0 {
                format!(" @ d{}", a.depth)
            } else {
                String::new()
            };
            println!("| model | threads | test | t/s |");
            println!("| --- | ---: | --- | ---: |");
            if !pp.is_empty() {
                println!(
                    "| {name} | {threads} | pp{}{depth} | {pp_mean:.2} ± {pp_sd:.2} |",
                    a.prompt
                );
            }
            if !tg.is_empty() {
                println!(
                    "| {name} | {threads} | tg{}{depth} | {tg_mean:.2} ± {tg_sd:.2} |",
                    a.gen
                );
            }
            let rss = rss.map_or("n/a".into(), |m| format!("{m:.1} MiB"));
            let gpu = gpu_mib.map_or(String::new(), |m| format!(", GPU memory {m:.1} MiB"));
            println!(
                "\nbackend {backend}, load {:.1} ms, peak RSS {rss}{gpu}",
                loaded.load_ms
            );
        }
        Ok(())
    })
}
