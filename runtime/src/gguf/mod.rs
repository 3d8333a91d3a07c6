//! GGUF reader and writer.
//!
//! Layout (all little-endian): magic "GGUF", u32 version (2 or 3), u64 tensor count,
//! u64 metadata count, the metadata key/value pairs, the tensor infos (name, n_dims,
//! dims, ggml type id, offset), padding to `general.alignment` (default 32), then the
//! data section holding each tensor at its aligned offset.

mod cursor;
mod error;
mod reader;
mod str_array;
mod value;
mod writer;

pub use error::GgufError;
pub use reader::{GgufFile, TensorInfo};
pub use str_array::StrArray;
pub use value::{MetaArray, MetaValue};
pub use writer::{GgufWriter, TensorSink};

/// The first four bytes of every GGUF file.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata key holding the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
pub const MAX_DIMS: usize = 4;

#[cfg(test)]
mod tests;
