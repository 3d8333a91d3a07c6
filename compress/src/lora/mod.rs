//! PEFT LoRA adapters: reading them and merging them into f32 weights.
//!
//! The pipeline opens each adapter once ([`LoraAdapter::open`]), then for every HF tensor
//! (before any layout change such as llama's q/k row permutation, and before quantization)
//! calls [`LoraAdapter::merge_into`] for each adapter in order, and at the end
//! [`LoraAdapter::check_all_used`] so that a LoRA for a tensor the model lacks is an error.

mod adapter;
mod config;
mod merge;

pub use adapter::LoraAdapter;
