//! edgelm runtime: maps a GGUF file and runs the model in it.

pub mod chat;
pub mod gguf;
pub mod tokenizer;
