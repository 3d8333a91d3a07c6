//! `edgelm`: run a GGUF model on this device and report its speed and memory.

mod alloc_budget;
mod bench;
mod chat;
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
    /// Chat in the terminal through the model's chat template, the KV cache kept
    /// between turns (`edgelm run -cnv` is the same, as llama-cli spells it).
    Chat(chat::ChatArgs),
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
    let cli = Cli::parse_from(conversation_alias(std::env::args_os().collect()));
    if let Some(e) = edgelm_kernels::cpu::cpu_pin_error() {
        eprintln!("edgelm: error: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Run(a) => run::main(a, started),
        Command::Chat(a) => chat::main(a),
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

/// `edgelm run -cnv ...` (llama-cli's conversation flag, one dash and three letters,
/// which clap cannot declare) becomes `edgelm chat ...`; run's `--chat` goes with it.
fn conversation_alias(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is = |a: &std::ffi::OsString, s: &str| a.to_str() == Some(s);
    if args.len() < 2 || !is(&args[1], "run") {
        return args;
    }
    // Only flags before a `--` count.
    let end = args.iter().position(|a| is(a, "--")).unwrap_or(args.len());
    if !args[2..end]
        .iter()
        .any(|a| is(a, "-cnv") || is(a, "--conversation"))
    {
        return args;
    }
    args[1] = "chat".into();
    let mut i = 2;
    let mut end = end;
    while i < end {
        if is(&args[i], "-cnv") || is(&args[i], "--conversation") || is(&args[i], "--chat") {
            args.remove(i);
            end -= 1;
        } else {
            i += 1;
        }
    }
    args
}
