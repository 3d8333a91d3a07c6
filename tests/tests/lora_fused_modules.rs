//! LoRA merges into fused modules against peft's `merge_and_unload()`: GPT-2's Conv1D
//! c_attn / attn.c_proj / mlp.c_fc / mlp.c_proj (weights stored [in, out], peft
//! fan_in_fan_out) and Phi-3's nn.Linear qkv_proj / gate_up_proj (q, k, v and gate, up
//! rows in one matrix) plus o_proj. The adapters and peft's merged weights are in
//! tests/fixtures/lora/fused/ (make_fused_fixtures.py); the base checkpoints are the tiny
//! models' HF directories rebuilt from their GGUFs by tests/fixtures/tiny/gguf_to_hf.py.
//! edgelm-compress's F32 output must hold peft's merged weights within 1e-5, in the GGUF's
//! layout (GPT-2's transposed back to [out, in] rows), and every other tensor unchanged;
//! from the HF directory and from the converter's GGUF of it alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use edgelm_compress::lora::LoraAdapter;
use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::Quant;
use edgelm_compress::source::Checkpoint;
use edgelm_runtime::gguf::GgufFile;
use edgelm_tests::{fixtures_dir, test_python};
use safetensors::{Dtype, SafeTensors};

/// A folder removed when dropped.
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The tiny model `name` as an HF directory (None without the test python).
fn rebuild(name: &str) -> Option<TempDir> {
    let python = test_python()?;
    let root =
        std::env::temp_dir().join(format!("edgelm-lora-fused-{name}-{}", std::process::id()));
    let out = Command::new(python)
        .arg(fixtures_dir().join("tiny/gguf_to_hf.py"))
        .arg("--out")
        .arg(&root)
        .arg(name)
        .output()
        .expect("run gguf_to_hf.py");
    assert!(
        out.status.success(),
        "gguf_to_hf.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(TempDir(root))
}

/// (shape, values) of every tensor of an F32 safetensors file.
fn load(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            assert_eq!(v.dtype(), Dtype::F32, "{name}");
            let data = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, (v.shape().to_vec(), data))
        })
        .collect()
}

fn f32s(f: &GgufFile, name: &str) -> Vec<f32> {
    let t = f
        .tensors()
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"));
    f.tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn compress(input: &Path, loras: Vec<LoraAdapter>, tag: &str) -> (GgufFile, TempDir) {
    let out = std::env::temp_dir().join(format!(
        "edgelm-lora-fused-{tag}-{}.gguf",
        std::process::id()
    ));
    let opts = Options {
        quant: Quant::parse("F32").unwrap(),
        overrides: Vec::new(),
        loras,
        threads: 2,
    };
    let ckpt = Checkpoint::open(input).unwrap();
    pipeline::compress(&ckpt, &opts, &out, &|_| {}).unwrap_or_else(|e| panic!("{tag}: {e}"));
    (GgufFile::open(&out).unwrap(), TempDir(out))
}

/// HF module (after `<prefix>.<layer>.`) → GGUF tensor (after `blk.<layer>.`).
fn gguf_name(hf: &str, table: &[(&str, &str)]) -> String {
    let parts: Vec<&str> = hf.splitn(4, '.').collect();
    // transformer.h.N.rest / model.layers.N.rest
    let (layer, rest) = (parts[2], parts[3]);
    let module = rest.strip_suffix(".weight").unwrap();
    let (_, g) = table
        .iter()
        .find(|(h, _)| *h == module)
        .unwrap_or_else(|| panic!("no GGUF name for {hf}"));
    format!("blk.{layer}.{g}.weight")
}

fn check(name: &str, table: &[(&str, &str)], conv1d: bool) {
    let Some(hf) = rebuild(name) else { return };
    let dir = hf.0.join(name);
    let fused = fixtures_dir().join("lora/fused").join(name);
    let expected = load(&fused.join("expected.safetensors"));
    let adapter = LoraAdapter::open(&fused, 1.0).unwrap();
    assert_eq!(adapter.fan_in_fan_out(), conv1d);
    assert_eq!(
        adapter.targets().collect::<Vec<_>>(),
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );

    // The HF directory, and the converter's GGUF of it as input (re-quantization: its F16
    // values are the checkpoint's, which are f16-exact).
    let gguf = fixtures_dir().join(format!("tiny/{name}.gguf"));
    for (input, tag) in [(dir.as_path(), "hf"), (gguf.as_path(), "gguf")] {
        let adapter = LoraAdapter::open(&fused, 1.0).unwrap();
        let (plain, _p) = compress(input, Vec::new(), &format!("{name}-{tag}-plain"));
        let (merged, _m) = compress(input, vec![adapter], &format!("{name}-{tag}-merged"));
        compare(
            &format!("{name} ({tag})"),
            &expected,
            &plain,
            &merged,
            table,
            conv1d,
        );
    }
}

/// `merged` holds `expected` (HF names and layout) where the adapter applies, and the
/// tensors of `plain` elsewhere.
fn compare(
    name: &str,
    expected: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    plain: &GgufFile,
    merged: &GgufFile,
    table: &[(&str, &str)],
    conv1d: bool,
) {
    let mut seen = Vec::new();
    for (hf_name, (shape, want)) in expected {
        let g = gguf_name(hf_name, table);
        // The GGUF holds [out, in] rows; GPT-2's Conv1D weights are [in, out] in HF.
        let want: Vec<f32> = if conv1d {
            let (rows, cols) = (shape[0], shape[1]);
            (0..cols)
                .flat_map(|c| (0..rows).map(move |r| (r, c)))
                .map(|(r, c)| want[r * cols + c])
                .collect()
        } else {
            want.clone()
        };
        let got = f32s(merged, &g);
        let base = f32s(plain, &g);
        assert_eq!(got.len(), want.len(), "{name} {g}");
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d <= 1e-5, "{name} {g} ({hf_name}): max |ours - peft| = {d}");
        let moved = base
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(moved > 0.05, "{name} {g}: the merge must change it");
        seen.push(g);
    }
    for t in plain.tensors() {
        if !seen.contains(&t.name) {
            assert!(
                f32s(merged, &t.name) == f32s(plain, &t.name),
                "{name} {}: not a LoRA target, must be unchanged",
                t.name
            );
        }
    }
}

#[test]
fn gpt2_conv1d_c_attn_c_proj_c_fc_merge_as_peft() {
    check(
        "gpt2",
        &[
            ("attn.c_attn", "attn_qkv"),
            ("attn.c_proj", "attn_output"),
            ("mlp.c_fc", "ffn_up"),
            ("mlp.c_proj", "ffn_down"),
        ],
        true,
    );
}

#[test]
fn phi3_fused_qkv_and_gate_up_merge_as_peft() {
    check(
        "phi3",
        &[
            ("self_attn.qkv_proj", "attn_qkv"),
            ("self_attn.o_proj", "attn_output"),
            ("mlp.gate_up_proj", "ffn_up"),
        ],
        false,
    );
}
