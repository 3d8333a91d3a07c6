//! The generation loop: prefill the prompt, then sample and decode one token at a
//! time until an end-of-generation token, the token limit, a full context or the
//! caller's stop.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::LogitsFor;
use crate::sampler::Sampler;
use crate::session::Session;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token (EOS/EOT).
    EndOfGeneration,
    /// The requested number of tokens was produced.
    MaxTokens,
    /// The context has no room for another token.
    ContextFull,
    /// The caller stopped it (its token callback returned `ControlFlow::Break`).
    Cancelled,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndOfGeneration => "eog",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContextFull => "context_full",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// What happened, with timings in milliseconds.
#[derive(Clone, Debug)]
pub struct Generation {
    /// Generated ids, including a final end-of-generation token if one came.
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub stop: StopReason,
    /// From the start of the prompt's evaluation to the first generated token.
    pub ttft_ms: f64,
    pub prefill_ms: f64,
    /// Time spent in single-token forward passes, and how many there were.
    pub decode_ms: f64,
    pub decode_steps: usize,
}

impl Generation {
    pub fn prefill_tok_s(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_ms)
    }

    pub fn decode_tok_s(&self) -> f64 {
        per_second(self.decode_steps, self.decode_ms)
    }
}

fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// Generates up to `max_tokens` after `prompt`, calling `on_token` with each new id as
/// soon as it is sampled; `on_token` returns `ControlFlow::Break` to stop there
/// ([`StopReason::Cancelled`]: nothing more is evaluated). `is_eog` says which ids
/// end the generation.
pub fn generate(
    session: &mut Session,
    sampler: &mut Sampler,
    prompt: &[u32],
    max_tokens: usize,
    is_eog: impl Fn(u32) -> bool,
    mut on_token: impl FnMut(u32) -> ControlFlow<()>,
) -> Result<Generation> {
    let start = Instant::now();
    let mut logits = session.eval(prompt, LogitsFor::Last)?;
    let prefill_ms = ms_since(start);
    for &t in prompt {
        sampler.accept(t);
    }
    let mut gen = Generation {
        tokens: Vec::new(),
        prompt_tokens: prompt.len(),
        stop: StopReason::MaxTokens,
        ttft_ms: 0.0,
        prefill_ms,
        decode_ms: 0.0,
        decode_steps: 0,
    };
    while gen.tokens.len() < max_tokens {
        // A NaN would make every comparison false and pick token 0 (often the end of
        // generation): say so instead of stopping silently.
        if logits.iter().any(|l| l.is_nan()) {
            return Err(Error::Model {
                path: session.model().file.path().to_path_buf(),
                msg: format!(
                    "the model computed NaN logits after {} tokens (a weight in the file \
                     is not a finite number?)",
                    prompt.len() + gen.tokens.len()
                ),
            });
        }
        let token = sampler.sample(&logits);
        if gen.tokens.is_empty() {
            gen.ttft_ms = ms_since(start);
        }
        sampler.accept(token);
        gen.tokens.push(token);
        if on_token(token).is_break() {
            gen.stop = StopReason::Cancelled;
            break;
        }
        if is_eog(token) {
            gen.stop = StopReason::EndOfGeneration;
            break;
        }
        if gen.tokens.len() == max_tokens {
            break;
        }
        if session.remaining() == 0 {
            gen.stop = StopReason::ContextFull;
            break;
        }
        let step = Instant::now();
        logits = session.eval(&[token], LogitsFor::Last)?;
        gen.decode_ms += ms_since(step);
        gen.decode_steps += 1;
    }
    Ok(gen)
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
