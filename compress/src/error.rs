//! The compressor's error type: every variant names the file or tensor at fault.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CompressError {
    #[error("{}: {msg}", path.display())]
    Io {
        path: PathBuf,
        msg: String,
        #[source]
        source: std::io::Error,
    },
    /// The input checkpoint is malformed or unsupported.
    #[error("{}: {msg}", path.display())]
    Input { path: PathBuf, msg: String },
    /// A LoRA adapter is malformed, unsupported, or does not fit the model.
    #[error("LoRA adapter {}: {msg}", path.display())]
    Lora { path: PathBuf, msg: String },
    /// A quantization type, recipe or override is invalid.
    #[error("{0}")]
    Recipe(String),
    #[error(transparent)]
    Gguf(#[from] edgelm_runtime::gguf::GgufError),
    /// A GGUF input the runtime could not run (its errors name the file).
    #[error(transparent)]
    Runtime(#[from] edgelm_runtime::Error),
    /// The written file is one `edgelm` would refuse to load: nothing is renamed into
    /// place.
    #[error("the written model would not load in edgelm")]
    Unloadable(#[source] edgelm_runtime::Error),
}

impl CompressError {
    pub fn io(path: impl Into<PathBuf>, msg: impl Into<String>, source: std::io::Error) -> Self {
        CompressError::Io {
            path: path.into(),
            msg: msg.into(),
            source,
        }
    }
    pub fn input(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        CompressError::Input {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn lora(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        CompressError::Lora {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
