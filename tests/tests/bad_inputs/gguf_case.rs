//! A case over the tiny GGUF model: written as `model.gguf` in the case's folder.

use edgelm_tests::tiny_gguf::TinyGguf;

use crate::harness::{case_dir, Bin, Case};

/// An edit of the tiny model that makes one case.
pub type Edit = Box<dyn Fn(&mut TinyGguf)>;

/// A case that writes `model` as `model.gguf` in its own folder and runs `edgelm run` on
/// it (the arguments `run` adds can be extended); the error must name the file.
pub fn run_case(group: &str, index: usize, name: String, model: &TinyGguf) -> Case {
    let dir = case_dir(group, index);
    model.write(&dir.join("model.gguf"));
    Case::new(name, Bin::Edgelm, &dir)
        .args(RUN_ARGS)
        .mentions("model.gguf")
}

/// `edgelm run` on the case's model: two greedy tokens after a prompt the vocabulary
/// covers.
pub const RUN_ARGS: [&str; 9] = [
    "run",
    "-m",
    "model.gguf",
    "-p",
    "ab a",
    "-n",
    "2",
    "--temp",
    "0",
];

/// `edgelm perplexity` on the case's model and `text.txt`, in chunks of 8 tokens.
pub const PERPLEXITY_ARGS: [&str; 7] = [
    "perplexity",
    "-m",
    "model.gguf",
    "-f",
    "text.txt",
    "-c",
    "8",
];

/// `edgelm bench` on the case's model, as small as it goes.
pub const BENCH_ARGS: [&str; 9] = ["bench", "-m", "model.gguf", "-p", "4", "-n", "2", "-r", "1"];
