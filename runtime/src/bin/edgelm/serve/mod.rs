//! `edgelm serve`: an OpenAI-compatible HTTP server over the continuous-batching
//! engine (`edgelm_runtime::serve`). This module reads the flags, loads the model,
//! starts the engine and the HTTP runtime, and stops both on SIGINT/SIGTERM.

mod errors;
mod openai;
mod prompt;
mod reply;
mod routes;
mod sink;
mod sse;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use edgelm_runtime::chat;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::ModelConfig;
use edgelm_runtime::serve::{Engine, EngineConfig};
use edgelm_runtime::Precision;

use crate::load::{load_checked, MIB};
use crate::memory::{one_line, plan_for, Ctx, Want};
use crate::run::chat_template;
use state::{AppState, Template};

#[derive(Args)]
pub struct ServeArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Address to listen on; the default takes connections from this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// TCP port (0: any free one; the startup line says which).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Requests generated at once, each with its own slot of the KV cache.
    #[arg(long, short = 'P', default_value_t = 4)]
    parallel: usize,
    /// Context positions of all slots together, split evenly between them, as
    /// llama-server's -c (default: min(model context, 4096)).
    #[arg(short, long, default_value_t = 0)]
    ctx: usize,
    /// Prompt tokens read per step, all requests together.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Worker threads of the forward passes (default: one per performance core).
    #[arg(short, long, default_value_t = 0)]
    threads: usize,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// KV cache element type: f16, f32, or ggml blocks q8_0 (about half of f16's
    /// memory, so twice the slots or context) or q4_0 (about a quarter).
    #[arg(long, value_parser = KvType::NAMES, default_value = "f16")]
    kv_type: String,
    /// Chat template: a built-in name (gemma, chatml, llama3, phi3) or a Jinja file.
    /// Default: the file's own, else its architecture's built-in one, else chatml.
    #[arg(long, value_name = "NAME|FILE")]
    chat_template: Option<String>,
    /// Requests that may wait for a slot; more get 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// The model's name in responses and /v1/models (default: the file name).
    #[arg(long, value_name = "NAME")]
    alias: Option<String>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
}

/// How long requests still running at SIGINT/SIGTERM may take to finish.
const GRACE: Duration = Duration::from_secs(5);

pub fn main(a: ServeArgs) -> Result<()> {
    if a.batch == 0 {
        bail!("--batch 0: must be at least 1 (prompt tokens per step)");
    }
    if a.parallel == 0 {
        bail!("--parallel 0: at least one slot is needed");
    }
    if a.max_queue == 0 {
        // A request waits in the queue until the scheduler's next step takes it.
        bail!("--max-queue 0: must be at least 1");
    }
    ignore_sigpipe();
    let threads = match a.threads {
        0 => edgelm_runtime::cpu_cores::default_threads().threads,
        n => n,
    };
    // The memory plan of all slots, from the header: a server that cannot fit stops
    // here, before the weights are touched, saying what does.
    let mut planned = None;
    let loaded = load_checked(&a.model, |file| {
        let train = ModelConfig::from_gguf(file)?.n_ctx_train;
        let total = if a.ctx == 0 { train.min(4096) } else { a.ctx };
        let slot = total / a.parallel;
        if slot == 0 || slot > train {
            return Ok(()); // the engine refuses it with the reason
        }
        let want = Want {
            ctx: Ctx::Tokens(slot),
            budget: None,
            kv_type: &a.kv_type,
            parallel: a.parallel,
            n_batch: a.batch.min(slot) + a.parallel,
            logits_rows: a.parallel,
            threads,
        };
        planned = Some(plan_for(file, &want)?);
        Ok(())
    })?;
    if let Some((n_ctx, plan)) = &planned {
        eprintln!("edgelm serve: {}", one_line(plan, *n_ctx));
    }
    let model = loaded.model;
    let tokenizer = Arc::new(loaded.tokenizer);
    let template = pick_template(&a, &tokenizer, model.config.arch.name)?;
    let cfg = EngineConfig {
        parallel: a.parallel,
        n_ctx: a.ctx,
        n_batch: a.batch,
        threads,
        kv_type: a.kv_type.parse().map_err(anyhow::Error::msg)?,
        precision: Precision::Fast,
        max_queue: a.max_queue,
    };
    let engine = Engine::start(Arc::clone(&model), Arc::clone(&tokenizer), &cfg)
        .with_context(|| format!("{}: starting the engine", a.model.display()))?;
    let model_id = a.alias.clone().unwrap_or_else(|| {
        a.model.file_name().map_or_else(
            || a.model.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let (slots, slot_ctx, threads) = (a.parallel, engine.slot_ctx(), engine.threads());
    let kv_mib = engine.stats().kv_bytes as f64 / MIB;
    let state = Arc::new(AppState::new(
        engine,
        tokenizer,
        template,
        model_id.clone(),
        a.api_key.clone(),
        a.max_body,
    ));
    // The HTTP side does little work (JSON, tokenizing; forward passes run on the
    // engine's threads), so two workers keep it responsive without taking cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Long prompts are tokenized there; few at once is plenty.
        .max_blocking_threads(2)
        .thread_name("edgelm-http")
        .enable_io()
        .enable_time()
        .build()
        .context("starting the HTTP runtime")?;
    let app = routes::router(Arc::clone(&state));
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
            .await
            .with_context(|| format!("--host {} --port {}: cannot listen", a.host, a.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        eprintln!(
            "edgelm serve: listening on http://{addr} | {model_id} | {slots} slots × {slot_ctx} \
             positions | KV cache {kv_mib:.1} MiB | {threads} threads | loaded in {:.0} ms",
            loaded.load_ms
        );
        let stopping = Arc::new(tokio::sync::Notify::new());
        let signal = {
            let stopping = Arc::clone(&stopping);
            async move {
                shutdown_signal().await;
                eprintln!("edgelm serve: stopping (no new connections)");
                stopping.notify_one();
            }
        };
        // One small write per token: without TCP_NODELAY, Nagle's algorithm holds each
        // SSE chunk back until the previous one is acknowledged, and a lone stream
        // crawls (79 tok/s against 117 for each of two).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(signal);
        tokio::select! {
            r = server => r.context("serving HTTP")?,
            _ = async { stopping.notified().await; tokio::time::sleep(GRACE).await } => {
                eprintln!(
                    "edgelm serve: requests still running after {} s; cancelling them",
                    GRACE.as_secs()
                );
            }
        }
        anyhow::Ok(())
    })?;
    // Drops the tasks still running (and their receivers); then the last reference to
    // the engine goes, which cancels what is left and joins the scheduler.
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(state);
    eprintln!("edgelm serve: stopped");
    Ok(())
}

/// `--chat-template`, else the file's, else the architecture's built-in one, as
/// `edgelm run --chat` picks it; a model with none gets chatml, as llama-server gives.
fn pick_template(
    a: &ServeArgs,
    tok: &edgelm_runtime::tokenizer::Tokenizer,
    arch: &str,
) -> Result<Template> {
    let (text, label, source) = match chat_template(a.chat_template.as_deref(), &a.model, tok, arch)
    {
        Ok(t) => t,
        Err(_) if a.chat_template.is_none() => {
            let t = chat::builtin("chatml").context("the built-in chatml template")?;
            (
                t.to_string(),
                format!(
                    "chatml (built in; {} has none for '{arch}')",
                    a.model.display()
                ),
                "built-in chat template 'chatml'".to_string(),
            )
        }
        Err(e) => return Err(e),
    };
    eprintln!("edgelm serve: chat template: {label}");
    Ok(Template { text, source })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            // Without a SIGTERM handler, Ctrl-C still stops the server.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `edgelm` restores SIGPIPE's default (die) for `run | head`; a server must not die
/// when a client closes its socket while we write (sockets use MSG_NOSIGNAL, but
/// stderr may be a closed pipe too).
fn ignore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called before the engine and HTTP threads start, so no other thread is
    // changing signal dispositions; SIG_IGN is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
