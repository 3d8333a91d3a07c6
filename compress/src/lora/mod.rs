//! PEFT LoRA adapters: reading them and merging them into f32 weights.
