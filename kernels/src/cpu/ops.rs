//! Element-wise CPU ops (RMSNorm, softmax, RoPE, SiLU).
