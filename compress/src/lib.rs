//! edgelm-compress: turns a checkpoint (plus LoRA adapters) into one quantized GGUF file.
//!
//! - `source`: where tensors come from (Hugging Face safetensors directory, GGUF file),
//!   each tensor loaded lazily as f32 under its GGUF name.
//! - `hf`: Hugging Face `config.json` and `tokenizer.json` as GGUF metadata.
//! - `lora`: PEFT adapters merged into the f32 weights.
//! - `recipe`: which ggml type each tensor gets.
//! - `pipeline`: load, merge, quantize and write, a few tensors at a time.
//! - `report`: size and error per tensor.

pub mod error;
pub mod hf;
pub mod input_file;
pub mod lora;
pub mod pipeline;
pub mod recipe;
pub mod report;
pub mod source;

pub use error::CompressError;
