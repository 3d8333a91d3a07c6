//! `edgelm_generate`: prompt in, text pieces out through a C callback, report at the end.
//!
//! The model runs on a thread of its own (with the session's worker pool), but the
//! callback is always called on the thread that called `edgelm_generate` (a JNI
//! callback must run on a thread attached to the JVM; a Swift closure may expect its
//! own thread): the generating thread hands each piece over and waits for the
//! callback's answer before the next token.

use std::ffi::{c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::sync::TryLockError;

use edgelm_runtime::chat::ChatMessage;
use edgelm_runtime::generate::{generate, Generation, StopReason};
use edgelm_runtime::metrics::peak_rss_mib;
use edgelm_runtime::sampler::Sampler;
use edgelm_runtime::tokenizer::TextStream;

use crate::guard::{arg_ref, arg_str, guard};
use crate::model::{render, to_u32};
use crate::session::{edgelm_session, State};
use crate::status::{FfiError, FfiResult, Status, EDGELM_ERR_BUSY, EDGELM_ERR_SYSTEM};

/// Token id passed with text that belongs to no single token (the flushed tail of an
/// incomplete UTF-8 character).
pub const EDGELM_TOKEN_NONE: u32 = u32::MAX;

pub const EDGELM_STOP_NONE: i32 = 0;
pub const EDGELM_STOP_END_OF_GENERATION: i32 = 1;
pub const EDGELM_STOP_MAX_TOKENS: i32 = 2;
pub const EDGELM_STOP_CONTEXT_FULL: i32 = 3;
pub const EDGELM_STOP_CALLBACK: i32 = 4;
pub const EDGELM_STOP_CANCELLED: i32 = 5;

const MIB: f64 = 1024.0 * 1024.0;

/// Returns 0 to go on, anything else to stop.
#[allow(non_camel_case_types)]
pub type edgelm_token_callback = Option<
    unsafe extern "C" fn(
        piece: *const c_char,
        len: usize,
        token: u32,
        user_data: *mut c_void,
    ) -> c_int,
>;

#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct edgelm_report {
    pub load_ms: f64,
    pub ttft_ms: f64,
    pub prefill_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_ms: f64,
    pub decode_tok_s: f64,
    pub peak_rss_mib: f64,
    pub model_mapped_mib: f64,
    pub kv_cache_mib: f64,
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    pub n_ctx: u32,
    pub n_threads: u32,
    pub stop_reason: i32,
}

/// Why the loop stopped early on our side (callback or cancel), if it did.
#[derive(Clone, Copy)]
enum EarlyStop {
    Callback,
    Cancelled,
}

struct Outcome {
    gen: Generation,
    early: Option<EarlyStop>,
    delivered: usize,
}

/// One piece for the caller's thread: text bytes with a trailing NUL, and its token.
type Piece = (Vec<u8>, u32);

/// # Safety
/// `session` live or NULL; `prompt` NUL-terminated or NULL; `callback` NULL or a
/// function safe to call with `user_data`; `report` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_generate(
    session: *const edgelm_session,
    prompt: *const c_char,
    chat: bool,
    max_tokens: u32,
    callback: edgelm_token_callback,
    user_data: *mut c_void,
    report: *mut edgelm_report,
) -> Status {
    guard(|| {
        if !report.is_null() {
            // SAFETY: non-null and writable per the contract: zeroed until there is news.
            unsafe { report.write(edgelm_report::default()) };
        }
        // SAFETY: the contract for `session` and `prompt`.
        let s = unsafe { arg_ref(session, "session")? };
        // SAFETY: as above.
        let prompt = unsafe { arg_str(prompt, "prompt")? };
        let mut state = match s.state.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => {
                return Err(FfiError::new(
                    EDGELM_ERR_BUSY,
                    "this session is already generating on another thread",
                ))
            }
            // A panic in an earlier call: the state is rebuilt below (reset, new sampler).
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        s.cancel.store(false, Ordering::SeqCst);
        let out = run(s, &mut state, prompt, chat, max_tokens, callback, user_data)?;
        if !report.is_null() {
            let value = make_report(s, &state, &out);
            // SAFETY: non-null and writable per the contract.
            unsafe { report.write(value) };
        }
        Ok(())
    })
}

fn run(
    s: &edgelm_session,
    state: &mut State,
    prompt: &str,
    chat: bool,
    max_tokens: u32,
    callback: edgelm_token_callback,
    user_data: *mut c_void,
) -> FfiResult<Outcome> {
    let loaded = &*s.model;
    let tok = &loaded.tokenizer;
    let text = if chat {
        let user = ChatMessage {
            role: "user".into(),
            content: prompt.into(),
        };
        render(loaded, &[user], true)?
    } else {
        prompt.to_string()
    };
    let ids = tok.encode(&text, true, true);
    if ids.is_empty() {
        return Err(FfiError::invalid("the prompt is empty after tokenization"));
    }
    let State { session, opts } = state;
    session.reset();
    let mut sampler = Sampler::new(opts.sampler());
    let max = match max_tokens {
        0 => usize::MAX,
        n => n as usize,
    };

    // Rendezvous: the job blocks on each piece until the caller's thread answers.
    let (piece_tx, piece_rx) = sync_channel::<Piece>(0);
    let (answer_tx, answer_rx) = sync_channel::<bool>(1);
    let cancel = &s.cancel;
    let mut result = None;
    let result_slot = &mut result;
    std::thread::scope(|scope| {
        let job = move || {
            let mut early = None;
            let mut delivered = 0usize;
            let mut stream = TextStream::default();
            // Hands a piece to the caller's thread; false when it says stop.
            let send = |bytes: String, token: u32| {
                let mut bytes = bytes.into_bytes();
                bytes.push(0);
                piece_tx.send((bytes, token)).is_ok() && answer_rx.recv().unwrap_or(false)
            };
            let gen = generate(
                session,
                &mut sampler,
                &ids,
                max,
                |t| tok.is_eog(t),
                |t| {
                    if cancel.load(Ordering::SeqCst) {
                        early = Some(EarlyStop::Cancelled);
                        return ControlFlow::Break(());
                    }
                    let piece = stream.push(&tok.decode_token(t));
                    delivered += 1;
                    if !send(piece, t) {
                        early = Some(EarlyStop::Callback);
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                },
            );
            if gen.is_ok() && early.is_none() {
                let tail = stream.finish();
                if !tail.is_empty() {
                    send(tail, EDGELM_TOKEN_NONE);
                }
            }
            *result_slot = Some(gen.map(|gen| Outcome {
                gen,
                early,
                delivered,
            }));
            // `piece_tx` drops here, ending the caller's loop below.
        };
        let worker = std::thread::Builder::new()
            .name("edgelm-generate".into())
            .spawn_scoped(scope, job);
        if let Err(e) = worker {
            return Err(FfiError::new(
                EDGELM_ERR_SYSTEM,
                format!("starting the generation thread: {e}"),
            ));
        }
        for (bytes, token) in piece_rx.iter() {
            let go = match callback {
                // SAFETY: the caller vouches for `callback` with `user_data`; `bytes`
                // is NUL-terminated and outlives the call.
                Some(cb) => unsafe {
                    cb(bytes.as_ptr().cast(), bytes.len() - 1, token, user_data) == 0
                },
                None => true,
            };
            if answer_tx.send(go).is_err() {
                break;
            }
        }
        // The scope joins the generation thread and re-raises its panic.
        Ok(())
    })?;
    match result {
        Some(r) => Ok(r?),
        // The job always fills the slot unless it panicked, and the scope re-raises
        // that panic before we get here.
        None => Err(FfiError::invalid("generation ended without a result")),
    }
}

fn make_report(s: &edgelm_session, state: &State, out: &Outcome) -> edgelm_report {
    let gen = &out.gen;
    let stop_reason = match (out.early, gen.stop) {
        (Some(EarlyStop::Callback), _) => EDGELM_STOP_CALLBACK,
        (Some(EarlyStop::Cancelled), _) => EDGELM_STOP_CANCELLED,
        (None, StopReason::EndOfGeneration) => EDGELM_STOP_END_OF_GENERATION,
        (None, StopReason::MaxTokens) => EDGELM_STOP_MAX_TOKENS,
        (None, StopReason::ContextFull) => EDGELM_STOP_CONTEXT_FULL,
        // Only our callback breaks the loop, and it records why.
        (None, StopReason::Cancelled) => EDGELM_STOP_CANCELLED,
    };
    edgelm_report {
        load_ms: s.model.load_ms,
        ttft_ms: gen.ttft_ms,
        prefill_ms: gen.prefill_ms,
        prefill_tok_s: gen.prefill_tok_s(),
        decode_ms: gen.decode_ms,
        decode_tok_s: gen.decode_tok_s(),
        peak_rss_mib: peak_rss_mib().unwrap_or(-1.0),
        model_mapped_mib: s.model.model.file.file_size() as f64 / MIB,
        kv_cache_mib: state.session.kv_cache_bytes() as f64 / MIB,
        prompt_tokens: to_u32(gen.prompt_tokens),
        generated_tokens: to_u32(out.delivered),
        n_ctx: to_u32(state.session.n_ctx()),
        // The workers the forward passes ran on, not the pool asked for.
        n_threads: to_u32(state.session.threads()),
        stop_reason,
    }
}
