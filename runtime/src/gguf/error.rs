//! The one error type of the GGUF reader and writer.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// What went wrong reading or writing a GGUF file. Every variant that concerns a file
/// names it, so a message printed by a binary is enough to find the problem.
#[derive(Debug, Error)]
pub enum GgufError {
    /// The operating system refused an operation on the file (open, map, write, rename).
    #[error("{}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The bytes are not a valid GGUF file; `msg` says what and where.
    #[error("{}: {msg}", path.display())]
    Malformed { path: PathBuf, msg: String },
    /// A GGUF version this reader does not handle (only 2 and 3 are supported).
    #[error("{}: unsupported GGUF version {version} (only versions 2 and 3 are supported){hint}", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        version: u32,
        hint: &'static str,
    },
    /// A typed getter found the key with a different value type.
    #[error("{}: metadata key '{key}' has type {actual}, expected {expected}", path.display())]
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
        actual: String,
    },
    /// A typed getter found an integer that does not fit the requested type.
    #[error("{}: metadata key '{key}' value {value} does not fit in {target}", path.display())]
    OutOfRange {
        path: PathBuf,
        key: String,
        value: String,
        target: &'static str,
    },
    /// The writer was given something it cannot put in a valid file.
    #[error("gguf writer: {msg}")]
    Writer { msg: String },
}

impl GgufError {
    pub(crate) fn malformed(path: impl Into<PathBuf>, msg: impl Into<String>) -> GgufError {
        GgufError::Malformed {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> GgufError {
        GgufError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Prefixes the message of a `Malformed` error with where it happened
    /// (e.g. the metadata key being read); other variants pass through unchanged.
    pub(crate) fn context(self, prefix: impl std::fmt::Display) -> GgufError {
        match self {
            GgufError::Malformed { path, msg } => GgufError::Malformed {
                path,
                msg: format!("{prefix}: {msg}"),
            },
            other => other,
        }
    }
}
