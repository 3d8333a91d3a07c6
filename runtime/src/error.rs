//! The runtime's error type: every failure names the file and what was expected.

use std::path::PathBuf;

use crate::chat::ChatError;
use crate::gguf::GgufError;
use crate::tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The file parsed but does not describe a model we can run.
    #[error("{}: {msg}", path.display())]
    Model { path: PathBuf, msg: String },
    #[error("the prompt has {prompt} tokens but the context holds {n_ctx}: raise --ctx (the model allows {max})")]
    PromptTooLong {
        prompt: usize,
        n_ctx: usize,
        max: usize,
    },
    #[error("{0}")]
    Invalid(String),
    /// The requested device cannot run the model (no CUDA in this build, no
    /// driver, no GPU, not enough GPU memory, a kernel failure).
    #[error("{0}")]
    Device(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
