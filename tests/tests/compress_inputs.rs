//! The forms a Hugging Face checkpoint comes in: F32, F16 and BF16 safetensors, one file
//! or shards with `model.safetensors.index.json`. The tiny Llama of the LoRA fixtures
//! holds f16-exact weights, so an F16 copy must give byte-identical output; a BF16 copy
//! must give the bf16-rounded weights.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::Quant;
use edgelm_compress::source::Checkpoint;
use edgelm_runtime::gguf::GgufFile;
use edgelm_tests::fixtures_dir;
use half::{bf16, f16};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

fn base() -> PathBuf {
    fixtures_dir().join("lora/base")
}

/// A copy of the base directory in a fresh temp folder, without its weights.
fn copy_without_weights(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgelm-inputs-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for e in fs::read_dir(base()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "model.safetensors" {
            fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

/// The base tensors converted by `convert` (f32 values -> bytes of `dtype`).
fn converted(convert: fn(f32) -> [u8; 2]) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = fs::read(base().join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), Dtype::F32);
        let data: Vec<u8> = view
            .data()
            .chunks_exact(4)
            .flat_map(|c| convert(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        out.push((name, view.shape().to_vec(), data));
    }
    out
}

fn write(path: &Path, tensors: &[(String, Vec<usize>, Vec<u8>)], dtype: Dtype) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(dtype, s.clone(), d).unwrap()))
        .collect();
    fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Tensor names, types, shapes and bytes of a GGUF file (its `general.name` comes from
/// the directory name, so whole files are not compared).
fn tensors(bytes: Vec<u8>) -> Vec<(String, String, Vec<u64>, Vec<u8>)> {
    let f = GgufFile::from_bytes("out.gguf", bytes).unwrap();
    f.tensors()
        .iter()
        .map(|t| {
            let data = f.tensor_data(t).to_vec();
            (
                t.name.clone(),
                t.ty.name().to_string(),
                t.dims.clone(),
                data,
            )
        })
        .collect()
}

fn compress(input: &Path, tag: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!("edgelm-inputs-{}-{tag}.gguf", std::process::id()));
    let opts = Options {
        quant: Quant::parse("F32").unwrap(),
        overrides: Vec::new(),
        loras: Vec::new(),
        threads: 2,
    };
    let ckpt = Checkpoint::open(input).unwrap();
    pipeline::compress(&ckpt, &opts, &out, &|_| {}).unwrap();
    let bytes = fs::read(&out).unwrap();
    fs::remove_file(&out).unwrap();
    bytes
}

#[test]
fn f16_safetensors_give_the_same_file_as_f32() {
    let dir = copy_without_weights("f16");
    write(
        &dir.join("model.safetensors"),
        &converted(|v| f16::from_f32(v).to_le_bytes()),
        Dtype::F16,
    );
    assert!(tensors(compress(&dir, "f16")) == tensors(compress(&base(), "f32")));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bf16_safetensors_give_the_bf16_rounded_weights() {
    let dir = copy_without_weights("bf16");
    let tensors = converted(|v| bf16::from_f32(v).to_le_bytes());
    write(&dir.join("model.safetensors"), &tensors, Dtype::BF16);
    let out = std::env::temp_dir().join(format!("edgelm-inputs-{}-bf16.gguf", std::process::id()));
    fs::write(&out, compress(&dir, "bf16")).unwrap();
    let f = GgufFile::open(&out).unwrap();
    let norm = tensors
        .iter()
        .find(|(n, _, _)| n == "model.norm.weight")
        .unwrap();
    let want: Vec<f32> = norm
        .2
        .chunks_exact(2)
        .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    let t = f.tensor("output_norm.weight").unwrap();
    let got: Vec<f32> = f
        .tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(got, want);
    drop(f);
    fs::remove_file(&out).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sharded_checkpoints_give_the_same_file() {
    let dir = copy_without_weights("shards");
    let bytes = fs::read(base().join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut weight_map = HashMap::new();
    for (i, part) in names.chunks(names.len().div_ceil(2)).enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        let views: Vec<(String, TensorView)> = part
            .iter()
            .map(|n| (n.clone(), st.tensor(n).unwrap()))
            .collect();
        fs::write(
            dir.join(&file),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        for n in part {
            weight_map.insert(n.clone(), file.clone());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string(&index).unwrap(),
    )
    .unwrap();
    assert!(tensors(compress(&dir, "shards")) == tensors(compress(&base(), "single")));
    fs::remove_dir_all(&dir).unwrap();
}
