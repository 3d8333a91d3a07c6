//! `edgelm-compress`: checkpoint (+ LoRA adapters) -> quantized GGUF.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("edgelm-compress: the command line arrives with the pipeline")
}
