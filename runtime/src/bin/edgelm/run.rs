//! `edgelm run`: generate text, stream it to stdout, report to stderr (or JSON).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use edgelm_runtime::chat::{self, render_chat, ChatMessage};
use edgelm_runtime::device::Device;
use edgelm_runtime::generate::{generate, Generation, StopReason};
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::metrics::peak_rss_mib;
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::stop::StopStrings;
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_runtime::Precision;

use crate::alloc_budget;
use crate::gen_args::GenArgs;
use crate::load::{read_text_file, thread_count, thread_pool, MIB};
use crate::memory::{load_planned, one_line, plan_batch, Ctx, Size, Want};
use crate::stream_out::StreamOut;

#[derive(Args)]
pub struct RunArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Prompt text.
    #[arg(short, long, conflicts_with = "file")]
    prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(short, long)]
    file: Option<PathBuf>,
    #[command(flatten)]
    gen: GenArgs,
    /// Wrap the prompt in the model's chat template (tokenizer.chat_template).
    #[arg(long)]
    chat: bool,
    /// System message for --chat.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Chat template for --chat: a built-in name (gemma, chatml, llama3, phi3) or a
    /// Jinja file. Default: the file's own, else its architecture's built-in one.
    #[arg(long, requires = "chat", value_name = "NAME|FILE")]
    chat_template: Option<String>,
    /// Worker threads; 0 (the default): one per performance core, hyper-threads not
    /// counted.
    #[arg(short, long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Context size in tokens; 0 (the default): min(model context, 4096); `auto`: the
    /// most that fits the memory available (or --mem-budget).
    #[arg(short, long, default_value = "0", hide_default_value = true)]
    ctx: Ctx,
    /// Plan memory against this much instead of what the device has available now
    /// (e.g. 512M, 1.5G): a run that would need more stops before loading.
    #[arg(long, value_name = "SIZE")]
    mem_budget: Option<Size>,
    /// Prompt tokens per forward pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// KV cache element type: f16, f32, or ggml blocks q8_0 (about half of f16's
    /// memory) or q4_0 (about a quarter); --precise always uses f32.
    #[arg(long, value_parser = KvType::NAMES, default_value = "f16")]
    kv_type: String,
    /// Reference mode: weights dequantized to f32, f32 activations and KV cache.
    #[arg(long)]
    precise: bool,
    /// Where to run: cpu, cuda (an NVIDIA GPU; fails if there is none) or auto
    /// (the GPU when this build has CUDA and one is usable, else the CPU).
    #[arg(long, default_value_t = Device::Auto)]
    device: Device,
    /// Print the prompt before the generated text.
    #[arg(long)]
    echo: bool,
    /// Print one JSON object with the text, ids and report instead of streaming.
    #[arg(long)]
    json: bool,
}

/// `started`: when the process's `main` began, for the load-to-first-token figure.
pub fn main(a: RunArgs, started: Instant) -> Result<()> {
    a.gen.check()?;
    if a.batch == 0 {
        bail!("--batch 0: must be at least 1 (tokens per prefill step)");
    }
    let prompt = match (&a.prompt, &a.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => read_text_file(f, "the prompt file")?,
        (None, None) => bail!("give a prompt with -p TEXT or -f FILE"),
    };
    let pool = thread_pool(a.threads)?;
    let threads = (pool.current_num_threads(), thread_count(a.threads)?.1);
    pool.install(|| run(&a, &prompt, threads, started))
}

/// `threads`: the worker count and why it is that many.
fn run(a: &RunArgs, prompt: &str, threads: (usize, String), started: Instant) -> Result<()> {
    let (threads, threads_why) = threads;
    // The plan, from the header alone: a run that cannot fit stops here, before the
    // weights are touched.
    let (loaded, n_ctx, plan) = load_planned(&a.model, |file| {
        Ok(Want {
            ctx: a.ctx,
            budget: a.mem_budget.map(|s| s.0),
            kv_type: if a.precise { "f32" } else { &a.kv_type },
            parallel: 1,
            n_batch: plan_batch(file, a.ctx, a.batch)?,
            logits_rows: 1,
            threads,
        })
    })?;
    let (model, tok) = (&loaded.model, &loaded.tokenizer);
    let mut from = match &a.file {
        Some(f) => f.display().to_string(),
        None => "-p/--prompt".to_string(),
    };
    let text = if a.chat {
        let (template, label, source) = chat_template(
            a.chat_template.as_deref(),
            &a.model,
            tok,
            model.config.arch.name,
        )?;
        from = format!("{source} (rendered)");
        eprintln!("edgelm: chat template: {label}");
        // A template is data from the file: its rendering gets a memory budget too (fuel
        // bounds its instructions, not the size of the strings they build).
        alloc_budget::with_budget(TEMPLATE_MEMORY, &source, || {
            chat_prompt(tok, prompt, a.system.as_deref(), &template)
        })
        .context(source)?
    } else {
        prompt.to_string()
    };
    // A template that writes the BOS token itself gets no second one.
    let bos_in_text = a.chat && starts_with_bos(tok, &text);
    let ids = tok.encode(&text, !bos_in_text, true);
    if ids.is_empty() {
        bail!("{from}: the prompt is empty after tokenization");
    }
    let opts = SessionOptions {
        n_ctx,
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
        n_batch: a.batch,
    };
    let session = Session::with_device(Arc::clone(model), &opts, a.device)?;
    // Printed once the run can start, so that a failure is one message.
    if !a.json {
        eprintln!("edgelm: {}", one_line(&plan, n_ctx));
    }
    if let Some(n) = session.notice() {
        eprintln!("edgelm: {n}");
    }
    let mut session = session;
    let seed = a.gen.seed();
    let mut sampler = a.gen.sampler(seed);

    let mut first_token_at: Option<Instant> = None;
    let mut out = StreamOut::new(&a.gen.stop, !a.json);
    let stdout = std::io::stdout();
    if a.echo && !a.json {
        let _ = write!(stdout.lock(), "{text}");
    }
    let gen = generate(
        &mut session,
        &mut sampler,
        &ids,
        a.gen.n_predict,
        |t| !a.gen.ignore_eos && tok.is_eog(t),
        |t| {
            first_token_at.get_or_insert_with(Instant::now);
            out.push(&tok.decode_token(t))
        },
    )?;
    out.finish();
    // A stop string ends the generation through the callback's Break.
    let stop = match out.matched() {
        Some(_) => "stop_string",
        None => gen.stop.as_str(),
    };
    // Wall time from the start of `main` to the first sampled token (None if none was).
    let load_to_first_ms = first_token_at.map(|t| (t - started).as_secs_f64() * 1000.0);
    let peak = peak_rss_mib();
    let mapped = model.file.file_size() as f64 / MIB;
    // Weights rearranged for this CPU's kernels live in memory, not in the map.
    let copied = model.weights.copied_bytes() as f64 / MIB;
    let kv_mib = session.kv_cache_bytes() as f64 / MIB;
    let gpu = session.gpu_name().map(|name| {
        (
            name.to_string(),
            session.gpu_mem_bytes().unwrap_or(0) as f64 / MIB,
        )
    });
    if a.json {
        let generated: Vec<u32> = gen.tokens.clone();
        // The whole text decoded at once (as before stop strings), cut where the stream
        // was: the first stop string to complete.
        let mut cut = StopStrings::new(a.gen.stop.iter().cloned());
        let decoded = cut.push(&tok.decode(&generated));
        let text = match decoded.stop {
            Some(_) => decoded.text,
            None => decoded.text + &cut.finish(),
        };
        let report = serde_json::json!({
            "text": text,
            "tokens": generated,
            "prompt_ids": ids,
            "prompt_tokens": gen.prompt_tokens,
            "generated_tokens": gen.tokens.len(),
            "stop": stop,
            "stop_string": out.matched(),
            "load_ms": loaded.load_ms,
            "ttft_ms": gen.ttft_ms,
            "load_to_first_token_ms": load_to_first_ms,
            "prefill_ms": gen.prefill_ms,
            "prefill_tok_s": gen.prefill_tok_s(),
            "decode_ms": gen.decode_ms,
            "decode_tok_s": gen.decode_tok_s(),
            "peak_rss_mib": peak,
            "model_mapped_mib": mapped,
            "weights_interleaved_mib": copied,
            "kv_cache_mib": kv_mib,
            "kv_type": session.kv_type().to_string(),
            "n_ctx": session.n_ctx(),
            "threads": threads,
            "threads_reason": threads_why,
            "plan": plan.to_json(),
            "precise": a.precise,
            "seed": seed,
            "device": session.device(),
            "gpu": gpu.as_ref().map(|g| &g.0),
            "gpu_mem_mib": gpu.as_ref().map(|g| g.1),
        });
        println!("{report}");
    } else {
        println!();
        if gen.stop == StopReason::ContextFull {
            eprintln!(
                "edgelm: the context is full ({} tokens); stopped. Use --ctx to allow more.",
                session.n_ctx()
            );
        }
        let times = Times {
            load_ms: loaded.load_ms,
            load_to_first_ms,
        };
        print_report(
            a,
            &times,
            (&gen, stop),
            (threads, &threads_why),
            peak,
            (mapped, copied),
            kv_mib,
        );
        if let Some((name, mib)) = &gpu {
            eprintln!("  device           cuda ({name}), GPU memory {mib:.1} MiB");
        }
    }
    Ok(())
}

/// Memory a chat template may use while rendering: real ones need kilobytes.
pub(crate) const TEMPLATE_MEMORY: usize = 256 << 20;

/// The chat template to use and what to call it in the report: `--chat-template`
/// (a built-in name or a file), else the model file's, else the architecture's
/// built-in one. The third string names it in errors.
pub(crate) fn chat_template(
    want: Option<&str>,
    model_path: &std::path::Path,
    tok: &Tokenizer,
    arch: &str,
) -> Result<(String, String, String)> {
    let names = || {
        chat::BUILTIN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(want) = want {
        if let Some(t) = chat::builtin(want) {
            return Ok((
                t.to_string(),
                format!("{want} (built in, asked for)"),
                format!("built-in chat template '{want}'"),
            ));
        }
        let path = std::path::Path::new(want);
        if !path.exists() {
            bail!(
                "--chat-template {want}: neither a built-in template ({}) nor a file",
                names()
            );
        }
        let t = read_text_file(path, "the chat template")?;
        return Ok((
            t,
            format!("{} (file)", path.display()),
            path.display().to_string(),
        ));
    }
    if let Some(t) = tok.chat_template() {
        return Ok((
            t.to_string(),
            "the model file's".into(),
            format!("{}: tokenizer.chat_template", model_path.display()),
        ));
    }
    match chat::for_architecture(arch).and_then(|n| chat::builtin(n).map(|t| (n, t))) {
        Some((name, t)) => Ok((
            t.to_string(),
            format!("{name} (built in, for {arch}; the file has none)"),
            format!("built-in chat template '{name}'"),
        )),
        None => bail!(
            "{}: --chat needs a chat template: the file has none and there is no built-in \
             one for '{arch}'; pass --chat-template NAME|FILE ({})",
            model_path.display(),
            names()
        ),
    }
}

fn chat_prompt(
    tok: &Tokenizer,
    user: &str,
    system: Option<&str>,
    template: &str,
) -> Result<String> {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(ChatMessage {
            role: "system".into(),
            content: s.into(),
        });
    }
    messages.push(ChatMessage {
        role: "user".into(),
        content: user.into(),
    });
    render_messages(tok, &messages, template)
}

/// `messages` through `template` with the assistant's turn opened, the tokenizer's
/// BOS and EOS tokens given to the template by name.
pub(crate) fn render_messages(
    tok: &Tokenizer,
    messages: &[ChatMessage],
    template: &str,
) -> Result<String> {
    let name = |id: Option<u32>| {
        id.and_then(|i| tok.token_str(i))
            .unwrap_or_default()
            .to_string()
    };
    Ok(render_chat(
        template,
        messages,
        true,
        &name(tok.bos()),
        &name(tok.eos()),
    )?)
}

/// Whether a rendered chat starts with the BOS token's text: a template that writes
/// the BOS token itself gets no second one from the tokenizer.
pub(crate) fn starts_with_bos(tok: &Tokenizer, text: &str) -> bool {
    tok.bos()
        .and_then(|b| tok.token_str(b))
        .is_some_and(|b| text.starts_with(b))
}

/// Start-up figures for the report.
struct Times {
    load_ms: f64,
    load_to_first_ms: Option<f64>,
}

fn print_report(
    a: &RunArgs,
    times: &Times,
    (gen, stop): (&Generation, &str),
    (threads, why): (usize, &str),
    peak: Option<f64>,
    (mapped, copied): (f64, f64),
    kv_mib: f64,
) {
    let name = a.model.file_name().map_or_else(
        || a.model.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    eprintln!();
    let interleaved = if copied > 0.0 {
        format!(" ({copied:.1} MiB of it interleaved in memory)")
    } else {
        String::new()
    };
    eprintln!(
        "edgelm: {name} | {threads} threads ({why}) | {} | mapped {mapped:.1} MiB{interleaved} | KV cache {kv_mib:.1} MiB",
        if a.precise { "precise (f32)" } else { "fast" }
    );
    eprintln!("  load             {:9.1} ms", times.load_ms);
    eprintln!(
        "  prefill          {:9.1} ms  {:5} tokens  {:8.1} tok/s",
        gen.prefill_ms,
        gen.prompt_tokens,
        gen.prefill_tok_s()
    );
    eprintln!("  first token      {:9.1} ms", gen.ttft_ms);
    if let Some(ms) = times.load_to_first_ms {
        eprintln!("  start→1st token  {ms:9.1} ms  (wall time from process start)");
    }
    eprintln!(
        "  decode           {:9.1} ms  {:5} tokens  {:8.1} tok/s",
        gen.decode_ms,
        gen.decode_steps,
        gen.decode_tok_s()
    );
    match peak {
        Some(p) => eprintln!("  peak RSS         {p:9.1} MiB"),
        None => eprintln!("  peak RSS         (not available on this OS)"),
    }
    eprintln!("  generated {} tokens, stopped: {}", gen.tokens.len(), stop);
}

pub(crate) use crate::gen_args::clock_seed;
