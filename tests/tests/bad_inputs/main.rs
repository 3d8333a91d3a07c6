//! The mutation harness: bad inputs generated class by class (issue 14's table), each run
//! through the real binaries under a memory cap and a time limit (see `harness`). Every
//! group prints `| group | tried | clean |`; `cargo test --test bad_inputs -- --nocapture`
//! shows the table.

mod gguf_case;
mod harness;
mod hf_case;

mod chat_template;
mod gguf_header;
mod gguf_model;
mod gguf_tokenizer;
mod runtime_args;

mod compress_config;
mod compress_gguf;
mod compress_lora;
mod compress_output;
mod compress_safetensors;
mod compress_tokenizer;

use harness::run_group;

/// The inputs every group mutates, unmutated: each command runs them. Without this, a
/// broken base would make every refusal pass.
#[test]
fn the_unmutated_inputs_run() {
    let model = edgelm_tests::tiny_gguf::TinyGguf::llama();
    let mut cases = vec![gguf_case::run_case("base", 0, "run".into(), &model).succeeds()];
    for (i, args) in [
        vec!["info", "model.gguf"],
        gguf_case::PERPLEXITY_ARGS.to_vec(),
        gguf_case::BENCH_ARGS.to_vec(),
        vec!["run", "-m", "model.gguf", "-p", "ab", "-n", "2", "--chat"],
    ]
    .into_iter()
    .enumerate()
    {
        let dir = harness::case_dir("base", i + 1);
        model.write(&dir.join("model.gguf"));
        std::fs::write(dir.join("text.txt"), "ab a ".repeat(40)).unwrap();
        cases.push(
            harness::Case::new(args.join(" "), harness::Bin::Edgelm, &dir)
                .args(args)
                .succeeds(),
        );
    }
    let mut hf = hf_case::Cases::new("base_compress");
    cases.push(hf.hf("compress the HF checkpoint", |_| {}).succeeds());
    let dir = hf.dir();
    model.write(&dir.join("model.gguf"));
    cases.push(
        harness::Case::new("compress the GGUF", harness::Bin::Compress, &dir)
            .args(["-i", "model.gguf", "-o", "out/model.gguf", "-q", "Q8_0"])
            .succeeds(),
    );
    run_group("unmutated inputs", cases);
}

#[test]
fn gguf_truncation() {
    run_group("GGUF truncation", gguf_header::truncations());
}

#[test]
fn gguf_header_fields() {
    run_group("GGUF header fields", gguf_header::cases());
}

#[test]
fn gguf_model_metadata() {
    run_group("GGUF model metadata", gguf_model::cases());
}

#[test]
fn gguf_tokenizer_metadata() {
    run_group("GGUF tokenizer metadata", gguf_tokenizer::cases());
}

#[test]
fn gguf_chat_template() {
    run_group("GGUF chat template", chat_template::cases());
}

#[test]
fn runtime_arguments() {
    run_group(
        "runtime arguments (run / perplexity / bench / info)",
        runtime_args::cases(),
    );
}

#[test]
fn compress_safetensors() {
    run_group("compress: safetensors", compress_safetensors::cases());
}

#[test]
fn compress_config_json() {
    run_group("compress: config.json", compress_config::cases());
}

#[test]
fn compress_tokenizer_json() {
    run_group("compress: tokenizer.json", compress_tokenizer::cases());
}

#[test]
fn compress_lora() {
    run_group("compress: LoRA", compress_lora::cases());
}

#[test]
fn compress_gguf_input() {
    run_group("compress: GGUF input", compress_gguf::cases());
}

#[test]
fn compress_output_paths_and_arguments() {
    run_group(
        "compress: output paths / arguments",
        compress_output::cases(),
    );
}
