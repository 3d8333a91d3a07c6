//! Decoder-only transformer models (`llama`, `qwen2`) whose weights stay in the
//! mapped GGUF file.

mod config;
#[cfg(feature = "cuda")]
mod cuda_forward;
mod forward;
mod weights;

use std::path::Path;

pub use config::{Arch, ModelConfig, SUPPORTED_ARCHS};
#[cfg(feature = "cuda")]
pub use cuda_forward::CudaForward;
pub use forward::{LogitsFor, Scratch};
pub use weights::{Layer, Matrix, ModelWeights};

use crate::error::Result;
use crate::gguf::GgufFile;

pub struct Model {
    pub file: GgufFile,
    pub config: ModelConfig,
    pub weights: ModelWeights,
}

impl Model {
    /// Maps `path` and checks every tensor the architecture needs.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let file = GgufFile::open(path)?;
        file.prefault();
        Model::from_file(file)
    }

    pub fn from_file(file: GgufFile) -> Result<Model> {
        let config = ModelConfig::from_gguf(&file)?;
        let weights = ModelWeights::load(&file, &config)?;
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
