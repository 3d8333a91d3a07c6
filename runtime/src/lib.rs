//! edgelm runtime: maps a GGUF file and runs the model in it.

pub mod gguf;
