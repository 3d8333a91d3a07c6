//! Hugging Face `config.json` and `tokenizer.json` turned into GGUF metadata, as llama.cpp's
//! convert_hf_to_gguf.py writes it for the architectures in the runtime's specs (llama, qwen2, qwen3, gemma2, gemma3, phi3, gpt2).

mod arch_metadata;
mod config;
mod json;
mod pre_tokenizer;
pub mod sentencepiece;
mod special;
mod tokenizer;

pub use config::{
    model_name, supported_architectures, Arch, HfConfig, RopeScaling, GGML_QUANT_VERSION,
};
pub use tokenizer::tokenizer_metadata;
