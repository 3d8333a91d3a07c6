//! What a client asks of the engine, and what it hears back.

use crate::sampler::SamplerConfig;

/// One generation request, its prompt already tokenized.
pub struct Request {
    pub prompt: Vec<u32>,
    /// Generated tokens at most; `None`: until the slot's context is full.
    pub max_tokens: Option<usize>,
    pub sampler: SamplerConfig,
    /// Generation ends before the first of these appears in the text (OpenAI `stop`).
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens (llama.cpp's `ignore_eos`).
    pub ignore_eos: bool,
    /// Where the text and the outcome go.
    pub sink: Box<dyn Sink>,
}

/// Receives a request's events on the scheduler thread; must not block.
pub trait Sink: Send {
    /// Delivers an event; `false` when nobody listens any more (the client went
    /// away), which cancels the request.
    fn send(&mut self, event: Event) -> bool;
    /// Whether nobody listens any more; checked every step, so a request whose
    /// client left stops even before its next token.
    fn is_closed(&self) -> bool {
        false
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The next piece of text: whole UTF-8 characters, nothing of a stop string.
    Text(String),
    /// The last event of every request that was accepted.
    Done(Outcome),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub finish: Finish,
    pub prompt_tokens: usize,
    /// Tokens sampled (an end-of-generation token included).
    pub completion_tokens: usize,
    /// From the request's arrival to its first sampled token.
    pub ttft_ms: f64,
    /// From the request's arrival to its end.
    pub total_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    /// An end-of-generation token, or a stop string (OpenAI `stop`).
    Stop,
    /// `max_tokens`, or the slot's context is full (OpenAI `length`).
    Length,
    /// The client went away.
    Cancelled,
    /// The model failed on this request (NaN logits); the message says why.
    Error(String),
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn as_openai(&self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Cancelled => "cancelled",
            Finish::Error(_) => "error",
        }
    }
}

/// Why [`Engine::submit`](super::Engine::submit) refused a request; nothing was sent
/// to its sink.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {prompt} tokens but a request's context holds {n_ctx}")]
    PromptTooLong { prompt: usize, n_ctx: usize },
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    BadToken { id: u32, vocab: usize },
    #[error("the server is busy: {queued} requests are already waiting")]
    QueueFull { queued: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
}
