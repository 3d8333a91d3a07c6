//! `edgelm chat`: a conversation in the terminal, as `llama-cli -cnv` holds one. The KV
//! cache is kept between turns: each turn renders the whole conversation through the
//! chat template, keeps the cached tokens it shares with that rendering and evaluates
//! only the rest.
//!
//! Lines are read from stdin as the terminal gives them (its own editing: backspace,
//! Ctrl-U), without history: no line-editing crate is vendored in this workspace.

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use edgelm_runtime::chat::ChatMessage;
use edgelm_runtime::device::Device;
use edgelm_runtime::generate::{generate, StopReason};
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;

use crate::alloc_budget;
use crate::gen_args::GenArgs;
use crate::load::{thread_count, thread_pool};
use crate::memory::{load_planned, one_line, plan_batch, Ctx, Want};
use crate::run::{chat_template, render_messages, starts_with_bos, TEMPLATE_MEMORY};
use crate::stream_out::StreamOut;

#[derive(Args)]
pub struct ChatArgs {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// System message that opens the conversation (-p too, as llama-cli -cnv takes it).
    #[arg(long, short = 'p', visible_alias = "prompt")]
    system: Option<String>,
    /// Chat template: a built-in name (gemma, chatml, llama3, phi3) or a Jinja file.
    /// Default: the file's own, else its architecture's built-in one.
    #[arg(long, value_name = "NAME|FILE")]
    chat_template: Option<String>,
    #[command(flatten)]
    gen: GenArgs,
    /// Worker threads; 0 (the default): one per performance core, hyper-threads not
    /// counted.
    #[arg(short, long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Context size in tokens; 0 (the default): min(model context, 4096); `auto`: the
    /// most that fits the memory available. A conversation that fills it goes on in a
    /// new context.
    #[arg(short, long, default_value = "0", hide_default_value = true)]
    ctx: Ctx,
    /// Prompt tokens per forward pass.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// KV cache element type (see `edgelm run --help`).
    #[arg(long, value_parser = KvType::NAMES, default_value = "f16")]
    kv_type: String,
    /// Where to run: cpu, cuda or auto (see `edgelm run --help`).
    #[arg(long, default_value_t = Device::Auto)]
    device: Device,
}

pub fn main(a: ChatArgs) -> Result<()> {
    a.gen.check()?;
    anyhow::ensure!(
        a.batch > 0,
        "--batch 0: must be at least 1 (tokens per prefill step)"
    );
    let pool = thread_pool(a.threads)?;
    let threads = thread_count(a.threads)?.0;
    pool.install(|| chat(&a, threads))
}

fn chat(a: &ChatArgs, threads: usize) -> Result<()> {
    let (loaded, n_ctx, plan) = load_planned(&a.model, |file| {
        Ok(Want {
            ctx: a.ctx,
            budget: None,
            kv_type: &a.kv_type,
            parallel: 1,
            n_batch: plan_batch(file, a.ctx, a.batch)?,
            logits_rows: 1,
            threads,
        })
    })?;
    eprintln!("edgelm: {}", one_line(&plan, n_ctx));
    let tok = &loaded.tokenizer;
    let (template, label, source) = chat_template(
        a.chat_template.as_deref(),
        &a.model,
        tok,
        loaded.model.config.arch.name,
    )?;
    eprintln!("edgelm: chat template: {label}");
    let opts = SessionOptions {
        n_ctx,
        kv_type: a.kv_type.parse().map_err(anyhow::Error::msg)?,
        precision: Precision::Fast,
        n_batch: a.batch,
    };
    let mut session = Session::with_device(Arc::clone(&loaded.model), &opts, a.device)?;
    if let Some(n) = session.notice() {
        eprintln!("edgelm: {n}");
    }
    let mut sampler = a.gen.sampler(a.gen.seed());
    let render = |messages: &[ChatMessage]| -> Result<Vec<u32>> {
        // A template is data from the file: its rendering gets a memory budget too.
        let text = alloc_budget::with_budget(TEMPLATE_MEMORY, &source, || {
            render_messages(tok, messages, &template)
        })
        .with_context(|| source.clone())?;
        Ok(tok.encode(&text, !starts_with_bos(tok, &text), true))
    };
    let opening: Vec<ChatMessage> = a.system.iter().map(|s| message("system", s)).collect();
    let mut messages = opening.clone();
    // The tokens whose keys and values the session holds, in order.
    let mut cached: Vec<u32> = Vec::new();
    sigint::install();
    eprintln!("edgelm: chatting; Ctrl-C stops an answer, /exit or Ctrl-D leaves");
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("\n> ");
        let _ = std::io::stdout().flush();
        line.clear();
        if stdin.lock().read_line(&mut line).context("reading stdin")? == 0 {
            println!();
            return Ok(());
        }
        let user = line.trim_end_matches(['\n', '\r']);
        if user.trim() == "/exit" {
            return Ok(());
        }
        if user.trim().is_empty() {
            continue;
        }
        messages.push(message("user", user));
        let mut ids = render(&messages)?;
        if ids.len() >= n_ctx {
            // No room for this turn and an answer: the conversation so far goes.
            eprintln!(
                "edgelm: the context is full ({n_ctx} tokens); starting a new context \
                 with this message{}",
                if a.system.is_some() {
                    " and the system message"
                } else {
                    ""
                }
            );
            messages = opening.clone();
            messages.push(message("user", user));
            cached.clear();
            session.reset();
            ids = render(&messages)?;
            if ids.len() >= n_ctx {
                eprintln!(
                    "edgelm: this message takes {} tokens, more than the context \
                     ({n_ctx}, -c/--ctx); not sent",
                    ids.len()
                );
                messages.pop();
                continue;
            }
        }
        // What the cache already holds of this rendering is kept; at least one token is
        // evaluated, for the logits of the answer's first token.
        let common = common_prefix(&cached, &ids).min(ids.len() - 1);
        session.truncate(common);
        cached.truncate(common);
        let new = &ids[common..];
        // Cleared before the answer is announced: a Ctrl-C from then on stops it.
        sigint::clear();
        eprintln!(
            "edgelm: prefilled {} new tokens ({common} from the cache)",
            new.len()
        );
        let mut out = StreamOut::new(&a.gen.stop, true);
        let gen = generate(
            &mut session,
            &mut sampler,
            new,
            a.gen.n_predict,
            |t| !a.gen.ignore_eos && tok.is_eog(t),
            |t| {
                if sigint::take() {
                    return ControlFlow::Break(());
                }
                out.push(&tok.decode_token(t))
            },
        )?;
        out.finish();
        println!();
        // The last sampled token is never evaluated: the cache ends before it.
        cached.extend_from_slice(new);
        cached.extend_from_slice(&gen.tokens[..gen.tokens.len().saturating_sub(1)]);
        debug_assert_eq!(cached.len(), session.pos());
        if gen.stop == StopReason::Cancelled && out.matched().is_none() {
            eprintln!("edgelm: [stopped]");
        }
        messages.push(message("assistant", &out.text));
        if gen.stop == StopReason::ContextFull {
            eprintln!(
                "edgelm: the context is full ({n_ctx} tokens); the chat goes on in a new \
                 context{}",
                if a.system.is_some() {
                    " (the system message kept)"
                } else {
                    ""
                }
            );
            messages = opening.clone();
            cached.clear();
            session.reset();
        }
    }
}

fn message(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.into(),
        content: content.into(),
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Ctrl-C while an answer streams stops that answer, not the program: the handler only
/// raises a flag, which the token callback reads.
mod sigint {
    use std::sync::atomic::{AtomicBool, Ordering};

    static RAISED: AtomicBool = AtomicBool::new(false);

    #[cfg(unix)]
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only an atomic store: anything more is not async-signal-safe.
        RAISED.store(true, Ordering::SeqCst);
    }

    pub fn install() {
        #[cfg(unix)]
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }

    /// Forgets a Ctrl-C pressed before the answer started (at the prompt).
    pub fn clear() {
        RAISED.store(false, Ordering::SeqCst);
    }

    /// Whether Ctrl-C was pressed since the last call.
    pub fn take() -> bool {
        RAISED.swap(false, Ordering::SeqCst)
    }
}
