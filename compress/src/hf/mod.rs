//! Hugging Face `config.json` and `tokenizer.json` turned into GGUF metadata, as llama.cpp's
//! convert_hf_to_gguf.py writes it for the `llama` and `qwen2` architectures.

mod config;
mod json;
mod pre_tokenizer;
mod special;
mod tokenizer;

pub use config::{
    default_model_name, Arch, HfConfig, RopeScaling, GGML_QUANT_VERSION, SUPPORTED_ARCHITECTURES,
};
pub use tokenizer::tokenizer_metadata;
