//! LoRA merges end to end: edgelm-compress merges the PEFT adapters of
//! tests/fixtures/lora/ (made with transformers + peft by make_lora_fixtures.py) into the
//! tiny Llama and writes F32 GGUF; its tensors must equal peft's `merge_and_unload()`
//! weights and the runtime's logits for the file must equal transformers' for the merged
//! model — for a plain adapter, an rsLoRA adapter, and two adapters merged in sequence.

use std::path::PathBuf;
use std::sync::Arc;

use edgelm_compress::lora::LoraAdapter;
use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::Quant;
use edgelm_compress::source::{names, Checkpoint};
use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, max_abs_diff, read_f32s};
use safetensors::SafeTensors;
use serde_json::Value;

fn lora_dir() -> PathBuf {
    fixtures_dir().join("lora")
}

fn cases() -> Value {
    serde_json::from_str(&std::fs::read_to_string(lora_dir().join("cases.json")).unwrap()).unwrap()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Compresses the base with the case's adapters; returns the report and the file.
fn merge(case: &str, quant: &str) -> (edgelm_compress::report::Report, PathBuf) {
    let c = &cases()["cases"][case];
    let scale = c["user_scale"].as_f64().unwrap() as f32;
    let loras = c["adapters_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let dir = lora_dir().join("adapters").join(a.as_str().unwrap());
            LoraAdapter::open(&dir, scale).unwrap().for_linear_layers()
        })
        .collect();
    let opts = Options {
        quant: Quant::parse(quant).unwrap(),
        overrides: Vec::new(),
        loras,
        threads: 2,
    };
    let out = std::env::temp_dir().join(format!(
        "edgelm-lora-{}-{case}-{quant}.gguf",
        std::process::id()
    ));
    let ckpt = Checkpoint::open(&lora_dir().join("base")).unwrap();
    let report = pipeline::compress(&ckpt, &opts, &out, &|_| {}).unwrap();
    (report, out)
}

fn check_case(case: &str) {
    let meta = cases();
    let c = &meta["cases"][case];
    let (report, out) = merge(case, "F32");
    let file = GgufFile::open(&out).unwrap();
    let n_head = file.get_u32("llama.attention.head_count").unwrap().unwrap() as usize;
    let n_kv = file
        .get_u32("llama.attention.head_count_kv")
        .unwrap()
        .unwrap() as usize;

    // 1. Every tensor peft changed equals peft's merged weight (q/k rows un-permuted).
    let expected_bytes =
        std::fs::read(lora_dir().join(c["merged_weights_file"].as_str().unwrap())).unwrap();
    let expected = SafeTensors::deserialize(&expected_bytes).unwrap();
    let changed: Vec<String> = c["changed_tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), changed.len());
    for hf in &changed {
        let want = f32s(expected.tensor(hf).unwrap().data());
        let t = file
            .tensors()
            .iter()
            .find(|t| names::to_hf(&t.name).as_deref() == Some(hf.as_str()))
            .unwrap_or_else(|| panic!("{hf} not in the file"));
        assert_eq!(t.ty, GgmlType::F32);
        let cols = t.dims[0] as usize;
        let mut got = f32s(file.tensor_data(t));
        if t.name.contains("attn_q") {
            got = names::unpermute_rows(&got, cols, n_head);
        } else if t.name.contains("attn_k") {
            got = names::unpermute_rows(&got, cols, n_kv);
        }
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-5, "{case}: {hf} differs from peft by {d}");
    }
    // ... and the report saw exactly those tensors merged, all of the delta kept in F32.
    let merged: Vec<&str> = report
        .tensors
        .iter()
        .filter(|t| t.lora.is_some())
        .filter_map(|t| t.hf_name.as_deref())
        .collect();
    assert_eq!(merged.len(), changed.len(), "{case}");
    let kept = report.lora_survival().unwrap();
    assert!(
        (kept - 1.0).abs() < 1e-6,
        "{case}: F32 keeps the whole delta, got {kept}"
    );

    // 2. The runtime's logits for the merged file equal transformers' for peft's model.
    let ids: Vec<u32> = meta["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let want = read_f32s(&lora_dir().join(c["logits_file"].as_str().unwrap()));
    let model = Arc::new(Model::load(&out).unwrap());
    let opts = SessionOptions {
        n_ctx: 64,
        kv_type: KvType::F32,
        precision: Precision::Precise,
        n_batch: 8,
    };
    let got = Session::new(Arc::clone(&model), &opts)
        .unwrap()
        .eval(&ids, LogitsFor::All)
        .unwrap();
    let d = max_abs_diff(&got, &want);
    eprintln!("{case}: logits max |diff| vs transformers {d:.2e}");
    assert!(d <= 1e-3, "{case}: logits differ from transformers by {d}");
    drop(model);
    drop(file);
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn plain_adapter_equals_peft_and_transformers() {
    check_case("plain");
}

#[test]
fn rslora_adapter_equals_peft_and_transformers() {
    check_case("rslora");
}

#[test]
fn two_adapters_in_sequence_equal_peft_and_transformers() {
    check_case("plain_second");
}

/// Quantized, the merge still shows, and the report measures how much of each delta the
/// rounding kept.
#[test]
fn quantization_keeps_part_of_the_delta_and_says_how_much() {
    let (report, out) = merge("plain", "Q4_0");
    std::fs::remove_file(&out).unwrap();
    let kept = report.lora_survival().unwrap();
    eprintln!("plain LoRA through Q4_0: {kept:.3} of the delta kept");
    assert!(kept > 0.2 && kept < 1.5, "{kept}");
    for t in report.tensors.iter().filter(|t| t.lora.is_some()) {
        let l = t.lora.as_ref().unwrap();
        assert!(l.delta_rel > 0.0 && l.survival.is_finite(), "{}", t.name);
    }
}
