//! `edgelm`: run a GGUF model on this device and report its speed and memory.

mod alloc_budget;
mod bench;
mod gen_args;
mod info;
mod load;
mod memory;
mod perplexity;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod stream_out;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "edgelm",
    version,
    about = "Run a GGUF language model on this device"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt and report tokens/s, time to first token and memory.
    Run(run::RunArgs),
    /// Describe a GGUF file: architecture, hyper-parameters, tokenizer, tensors.
    Info(info::InfoArgs),
    /// Perplexity of a text file, computed as llama.cpp's llama-perplexity does.
    Perplexity(perplexity::PerplexityArgs),
    /// Prompt processing and generation tokens/s, measured as llama-bench measures them.
    Bench(bench::BenchArgs),
    /// How much memory a model will take at a context, KV type and parallel count,
    /// against what this device has: read from the file's header, before loading.
    Plan(memory::PlanArgs),
    /// Serve the model over HTTP with an OpenAI-compatible API (chat and text
    /// completions, streaming), batching concurrent requests.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

#[global_allocator]
static ALLOC: alloc_budget::BudgetAlloc = alloc_budget::BudgetAlloc;

fn main() {
    // Start of "load to first token": before argument parsing, thread pool and load.
    let started = std::time::Instant::now();
    edgelm_runtime::process::default_sigpipe();
    let cli = Cli::parse();
    if let Some(e) = edgelm_kernels::cpu::cpu_pin_error() {
        eprintln!("edgelm: error: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Run(a) => run::main(a, started),
        Command::Info(a) => info::main(a),
        Command::Perplexity(a) => perplexity::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Plan(a) => memory::main(a),
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve::main(a),
    };
    if let Err(e) = result {
        eprintln!(
            "edgelm: error: {}",
            edgelm_runtime::process::error_message(e.as_ref())
        );
        std::process::exit(1);
    }
}
