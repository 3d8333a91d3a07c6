//! The memory plan on the command line: `--ctx auto`, `--mem-budget`, the check that
//! a run fits before the weights are touched, and `edgelm plan`.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use clap::Args;
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::ModelConfig;
use edgelm_runtime::plan::{
    available_memory, human, parse_size, Footprint, MemoryPlan, PlanRequest,
};

/// `--ctx`: a number of tokens (0: the default), or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    Tokens(usize),
    /// The largest context that fits the memory budget.
    Auto,
}

impl FromStr for Ctx {
    type Err = String;
    fn from_str(s: &str) -> Result<Ctx, String> {
        match s {
            "auto" => Ok(Ctx::Auto),
            n => n
                .parse()
                .map(Ctx::Tokens)
                .map_err(|_| format!("'{n}' is not a number of tokens or 'auto'")),
        }
    }
}

/// A memory size: `4096`, `512M`, `1.5G`.
#[derive(Clone, Copy, Debug)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        parse_size(s)
            .map(Size)
            .ok_or_else(|| format!("'{s}' is not a size (bytes, or with K, M or G)"))
    }
}

/// Bytes per cached value of a `--kv-type` (f16's for a name clap has not checked).
pub fn kv_bytes_per_value(kv_type: &str) -> f64 {
    kv_type
        .parse::<KvType>()
        .map_or(2.0, KvType::bytes_per_value)
}

/// What a command's plan depends on besides the file.
pub struct Want<'a> {
    pub ctx: Ctx,
    pub budget: Option<u64>,
    pub kv_type: &'a str,
    pub parallel: usize,
    pub n_batch: usize,
    pub logits_rows: usize,
    pub threads: usize,
}

impl Want<'_> {
    fn request(&self, n_ctx: usize) -> PlanRequest {
        PlanRequest {
            n_ctx,
            parallel: self.parallel,
            kv_bytes_per_value: kv_bytes_per_value(self.kv_type),
            n_batch: self.n_batch,
            logits_rows: self.logits_rows,
            threads: self.threads,
        }
    }

    /// The context asked for, when it is a number (0: the default).
    fn fixed_ctx(&self, train: usize) -> Option<usize> {
        match self.ctx {
            Ctx::Tokens(0) => Some(train.min(4096)),
            Ctx::Tokens(n) => Some(n),
            Ctx::Auto => None,
        }
    }
}

/// The context to run with (per sequence) and its plan, or an error saying what does
/// fit. Reads only the header of `file`.
pub fn plan_for(file: &GgufFile, w: &Want) -> Result<(usize, MemoryPlan)> {
    let label = file.path().display().to_string();
    let fp = Footprint::read(file).with_context(|| label.clone())?;
    let train = fp.n_ctx_train();
    let budget = w.budget.or_else(available_memory);
    let n_ctx = match w.fixed_ctx(train) {
        Some(n) if n > train => {
            bail!("--ctx {n} is larger than the model's context length {train}")
        }
        Some(n) => n,
        None => {
            let Some(budget) = budget else {
                bail!("--ctx auto: the available memory is unknown here; give --mem-budget SIZE");
            };
            let Some(n) = fp.largest_fitting_ctx(&w.request(train), budget, train) else {
                bail!(
                    "{label}: even a 16-token context needs more than {} of memory",
                    human(budget)
                );
            };
            eprintln!(
                "edgelm: --ctx auto: {n} tokens (the most that fit {} of memory)",
                human(budget)
            );
            n
        }
    };
    let mut p = fp.plan(&w.request(n_ctx));
    p.available = budget;
    if !p.fits() {
        let avail = p.available.unwrap_or(0);
        let mut advice = Vec::new();
        if let Some(n) = fp.largest_fitting_ctx(&w.request(train), avail, n_ctx) {
            if n < n_ctx {
                advice.push(format!("--ctx {n}"));
            }
        }
        let smaller = ["q8_0", "q4_0"].into_iter().find(|&t| {
            let bytes = kv_bytes_per_value(t);
            let r = PlanRequest {
                kv_bytes_per_value: bytes,
                ..w.request(n_ctx)
            };
            bytes < kv_bytes_per_value(w.kv_type) && fp.plan(&r).peak_rss <= avail
        });
        if let Some(t) = smaller {
            advice.push(format!("--kv-type {t}"));
        }
        let advice = match advice.len() {
            0 => "nothing smaller fits: free memory or use a smaller model file".to_string(),
            _ => format!("{} fits", advice.join(" or ")),
        };
        bail!(
            "{label}: needs {} (weights {}, KV cache {} for {n_ctx} tokens), {} available; {advice}",
            human(p.peak_rss),
            human(p.weights),
            human(p.kv_cache),
            human(avail)
        );
    }
    Ok((n_ctx, p))
}

/// Loads `path` after planning its memory from the header: `want` says what the run
/// asks for, and a run that cannot fit stops before any weight is touched. Returns the
/// model, the context to run with and the plan.
pub fn load_planned<'a>(
    path: &std::path::Path,
    want: impl FnOnce(&GgufFile) -> Result<Want<'a>>,
) -> Result<(crate::load::Loaded, usize, MemoryPlan)> {
    let mut planned = None;
    let loaded = crate::load::load_checked(path, |file| {
        planned = Some(plan_for(file, &want(file)?)?);
        Ok(())
    })?;
    let (n_ctx, plan) = planned.context("the memory plan was not made")?;
    Ok((loaded, n_ctx, plan))
}

/// The plan in one line, for the top of a run's report.
pub fn one_line(p: &MemoryPlan, n_ctx: usize) -> String {
    format!(
        "memory plan: peak ~{} (weights {}, KV cache {} at {n_ctx} tokens, scratch {}){}",
        human(p.peak_rss),
        human(p.weights),
        human(p.kv_cache),
        human(p.scratch),
        p.available
            .map_or(String::new(), |a| format!("; {} available", human(a)))
    )
}

/// `edgelm plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Context size in tokens per sequence, or `auto` (the most that fits).
    #[arg(short, long, default_value = "0")]
    ctx: Ctx,
    /// KV cache element type.
    #[arg(long, value_parser = ["f16", "f32", "q8_0", "q4_0"], default_value = "f16")]
    kv_type: String,
    /// Sequences served at once (`serve --parallel`), each with its own cache.
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// Prompt tokens per forward pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Worker threads; 0 (the default): one per performance core, hyper-threads not
    /// counted.
    #[arg(short, long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Plan against this much memory instead of what is available now.
    #[arg(long, value_name = "SIZE")]
    mem_budget: Option<Size>,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn main(a: PlanArgs) -> Result<()> {
    let file = crate::load::open_gguf(&a.model)?;
    let threads = match a.threads {
        0 => edgelm_runtime::cpu_cores::default_threads().threads,
        n => n,
    };
    let want = Want {
        ctx: a.ctx,
        budget: a.mem_budget.map(|s| s.0),
        kv_type: &a.kv_type,
        parallel: a.parallel.max(1),
        n_batch: a.batch.max(1),
        logits_rows: a.parallel.max(1),
        threads,
    };
    // A plan that does not fit is still printed, with the advice, and exits 1.
    let (n_ctx, p, verdict) = match plan_for(&file, &want) {
        Ok((n, p)) => (n, p, None),
        Err(e) => {
            let fp = Footprint::read(&file)?;
            let n = want
                .fixed_ctx(fp.n_ctx_train())
                .unwrap_or(fp.n_ctx_train().min(4096));
            let mut p = fp.plan(&want.request(n));
            p.available = want.budget.or_else(available_memory);
            (n, p, Some(e))
        }
    };
    if a.json {
        let mut j = p.to_json();
        j["n_ctx"] = n_ctx.into();
        j["parallel"] = want.parallel.into();
        j["kv_type"] = a.kv_type.clone().into();
        println!("{j}");
    } else {
        let mib = |b: u64| format!("{:9.1} MiB", b as f64 / (1024.0 * 1024.0));
        println!(
            "{}: {n_ctx} tokens × {} sequence(s), KV cache {}",
            a.model.display(),
            want.parallel,
            a.kv_type
        );
        println!("  weights      {}", mib(p.weights));
        println!("  KV cache     {}", mib(p.kv_cache));
        println!("  scratch      {}", mib(p.scratch));
        println!("  tokenizer    {}", mib(p.tokenizer));
        println!("  process      {}", mib(p.process));
        println!("  peak RSS     {}", mib(p.peak_rss));
        match p.available {
            Some(av) => println!(
                "  available    {}  ({})",
                mib(av),
                if p.fits() { "fits" } else { "does not fit" }
            ),
            None => println!("  available    unknown"),
        }
    }
    match verdict {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The prompt batch to plan scratch memory for: a forward pass never holds more tokens
/// than the context, so a --batch past it (which runs as the whole prompt) must not
/// make the plan refuse the run.
pub fn plan_batch(file: &GgufFile, ctx: Ctx, batch: usize) -> Result<usize> {
    let most = match ctx {
        Ctx::Tokens(n) if n > 0 => n,
        _ => ModelConfig::from_gguf(file)?.n_ctx_train,
    };
    Ok(batch.min(most.max(1)))
}
