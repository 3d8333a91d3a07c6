//! `edgelm`: run a GGUF model on this device and report its speed and memory.

mod bench;
mod info;
mod load;
mod perplexity;
mod run;

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
}

fn main() {
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::main(a),
        Command::Info(a) => info::main(a),
        Command::Perplexity(a) => perplexity::main(a),
        Command::Bench(a) => bench::main(a),
    };
    if let Err(e) = result {
        eprintln!("edgelm: error: {}", message(&e));
        std::process::exit(1);
    }
}

/// Ends the process quietly when the reader of stdout goes away (`... | head`), as C
/// tools do, instead of panicking inside `println!`.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes, skipping a cause whose text the message already holds
/// (library errors often print their source themselves).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
