//! edgelm runtime: maps a GGUF file and runs the model in it.
//!
//! `gguf` reads the file, `model` runs the transformer over a `kv_cache`, `tokenizer`
//! and `chat` turn text into ids, `sampler` picks tokens, `session` and `generate`
//! drive a generation and time it, `stop` cuts streamed text at stop strings,
//! `perplexity` scores a text, `metrics` reads memory.

pub mod chat;
pub mod cpu_cores;
pub mod device;
pub mod error;
mod fxhash;
pub mod generate;
pub mod gguf;
pub mod kv_cache;
pub mod metrics;
pub mod model;
pub mod perplexity;
pub mod plan;
pub mod process;
pub mod sampler;
pub mod serve;
pub mod session;
pub mod stop;
pub mod tokenizer;

pub use edgelm_kernels::cpu::Precision;
pub use error::{Error, Result};
