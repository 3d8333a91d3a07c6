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
    /// Maps `path`, checks every tensor the architecture needs and rearranges the
    /// weights this CPU's kernels read faster in another layout.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let file = GgufFile::open(path)?;
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
