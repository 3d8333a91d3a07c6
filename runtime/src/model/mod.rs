//! Decoder-only transformer models (the architectures in `arch`) whose weights stay
//! in the mapped GGUF file.

pub mod arch;
mod config;
#[cfg(feature = "cuda")]
mod cuda_forward;
mod forward;
mod weights;

use std::path::Path;

pub use arch::Arch;
pub use config::ModelConfig;
#[cfg(feature = "cuda")]
pub use cuda_forward::CudaForward;
pub use forward::{LogitsFor, Scratch, Segment};
pub use weights::{Layer, Matrix, ModelWeights};

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

pub struct Model {
    pub file: GgufFile,
    pub config: ModelConfig,
    pub weights: ModelWeights,
}

impl Model {
    /// Maps `path`, checks every tensor the architecture needs and rearranges the
    /// weights this CPU's kernels read faster in another layout.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        Model::load_file(GgufFile::open(path)?)
    }

    /// [`Model::load`] of a file already open (its header read, e.g. to plan memory
    /// before touching the weights).
    pub fn load_file(file: GgufFile) -> Result<Model> {
        let model = Model::from_file(file)?;
        // The copied tensors' pages were read once and released.
        model.file.prefault_except(&model.weights.copied_tensors());
        Ok(model)
    }

    pub fn from_file(file: GgufFile) -> Result<Model> {
        let config = ModelConfig::from_gguf(&file)?;
        let mut weights = ModelWeights::load(&file, &config)?;
        weights.interleave_for_cpu(&file);
        Ok(Model {
            file,
            config,
            weights,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.weights.vocab_size
    }
}

/// What loading `file` would refuse, without preparing it to run: the hyper-parameters,
/// every tensor the architecture needs (shapes, finite norms), the tokenizer, and that
/// the tokenizer and the embedding agree. The compressor runs it on what it wrote.
pub fn check_file(file: &GgufFile) -> Result<()> {
    let config = ModelConfig::from_gguf(file)?;
    let weights = ModelWeights::load(file, &config)?;
    let tokenizer = Tokenizer::from_gguf(file).map_err(|e| Error::Model {
        path: file.path().to_path_buf(),
        msg: format!(
            "reading the tokenizer: {}",
            crate::process::error_message(&e)
        ),
    })?;
    check_vocab(file.path(), &tokenizer, weights.vocab_size)
}

/// As llama.cpp: one embedding row per token, or ids would index past the table (or
/// rows would never be reachable).
pub fn check_vocab(path: &Path, tokenizer: &Tokenizer, embedding_rows: usize) -> Result<()> {
    if tokenizer.vocab_size() != embedding_rows {
        return Err(Error::Model {
            path: path.to_path_buf(),
            msg: format!(
                "the tokenizer has {} tokens but token_embd.weight has {embedding_rows} rows",
                tokenizer.vocab_size()
            ),
        });
    }
    Ok(())
}
