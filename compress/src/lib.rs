//! edgelm-compress: turns a checkpoint (plus LoRA adapters) into one quantized GGUF file.
//!
//! The importers, LoRA merge and recipes arrive with the compressor issue; until then
//! this crate only fixes its place in the dependency order `compress -> runtime -> kernels`
//! and has no binary.
