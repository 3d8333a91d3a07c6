//! Serving many requests at once on one model: a scheduler thread runs continuous
//! (dynamic) batching over a fixed set of KV cache slots.
//!
//! Every step is one batched forward pass holding the next token of every sequence
//! that is generating, plus a chunk of at most `n_batch` prompt tokens of the
//! sequences still reading their prompt: a new request starts at the next step, and
//! a running stream waits at most one chunk for it. A finished or cancelled sequence
//! frees its slot at once. A sequence's tokens do not depend on what it is batched
//! with (the forward pass is bit-identical per segment), so greedy output is the same
//! alone or among fifteen others.
//!
//! The HTTP server (`edgelm serve`) sits on top: it turns JSON into [`Request`]s and
//! [`Event`]s into responses; nothing here knows about HTTP.

mod engine;
mod request;
mod sequence;
mod stats;

pub use engine::{Engine, EngineConfig};
pub use request::{Event, Finish, Outcome, Rejected, Request, Sink};
pub use stats::Stats;
