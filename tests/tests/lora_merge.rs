//! LoRA merge (edgelm-compress `lora`) against peft's own `merge_and_unload()` on the tiny
//! Llama of tests/fixtures/lora/ (made by make_lora_fixtures.py), and the errors for
//! adapters that cannot be merged.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use edgelm_compress::lora::LoraAdapter;
use edgelm_tests::fixtures_dir;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;
/// (name, shape, f32 values) of tensors to write into a scratch adapter.
type TensorList = Vec<(String, Vec<usize>, Vec<f32>)>;

fn lora_dir() -> PathBuf {
    fixtures_dir().join("lora")
}

fn cases() -> Value {
    let text = std::fs::read_to_string(lora_dir().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every tensor of a safetensors file (all F32 in these fixtures).
fn load(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, (view.shape().to_vec(), data))
        })
        .collect()
}

/// What the pipeline will do: every 2-D base tensor through every adapter in order, then
/// the check that each adapter's targets all exist. Returns the merged weights and the
/// names that at least one adapter changed.
fn merge_all(base: &Tensors, adapters: &[LoraAdapter]) -> (Tensors, HashSet<String>) {
    let mut merged = base.clone();
    let mut touched = HashSet::new();
    for (name, (shape, data)) in merged.iter_mut() {
        if shape.len() != 2 {
            continue;
        }
        for a in adapters {
            if a.merge_into(name, [shape[0], shape[1]], data).unwrap() {
                touched.insert(name.clone());
            }
        }
    }
    let names: HashSet<String> = base.keys().cloned().collect();
    for a in adapters {
        a.check_all_used(&names).unwrap();
    }
    (merged, touched)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn merges_match_peft() {
    let info = cases();
    let dir = lora_dir();
    let base = load(&dir.join("base/model.safetensors"));
    for (case, c) in info["cases"].as_object().unwrap() {
        let adapters: Vec<LoraAdapter> = c["adapters_in_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let d = dir.join(
                    info["adapters"][n.as_str().unwrap()]["dir"]
                        .as_str()
                        .unwrap(),
                );
                LoraAdapter::open(&d, 1.0).unwrap()
            })
            .collect();
        let (merged, touched) = merge_all(&base, &adapters);
        let expected = load(&dir.join(c["merged_weights_file"].as_str().unwrap()));
        let want: HashSet<String> = expected.keys().cloned().collect();
        assert_eq!(touched, want, "{case}: set of changed tensors");
        for (name, (shape, data)) in &expected {
            let (got_shape, got) = &merged[name];
            assert_eq!(got_shape, shape, "{case} {name}");
            let d = max_abs_diff(got, data);
            assert!(d <= 1e-5, "{case} {name}: max |ours - peft| = {d}");
            // The delta is not negligible, so the comparison above can fail.
            assert!(max_abs_diff(&base[name].1, data) > 0.05, "{case} {name}");
        }
        for (name, (_, data)) in &merged {
            if !want.contains(name) {
                assert_eq!(data, &base[name].1, "{case} {name} must be untouched");
            }
        }
    }
}

#[test]
fn delta_is_the_merged_change_and_scale_multiplies_it() {
    let dir = lora_dir();
    let base = load(&dir.join("base/model.safetensors"));
    let expected = load(&dir.join("expected_rslora.safetensors"));
    let a = LoraAdapter::open(&dir.join("adapters/rslora"), 1.0).unwrap();
    let half = LoraAdapter::open(&dir.join("adapters/rslora"), 0.5).unwrap();
    let targets: Vec<&str> = a.targets().collect();
    assert_eq!(targets.len(), 6);
    assert_eq!(
        a.scale_of("model.layers.0.self_attn.q_proj.weight"),
        Some(4.0)
    ); // 8/√4
    assert_eq!(
        half.scale_of("model.layers.0.self_attn.q_proj.weight"),
        Some(2.0)
    );
    for name in targets {
        let (shape, w) = &base[name];
        let shape = [shape[0], shape[1]];
        let d = a.delta(name, shape).unwrap().unwrap();
        let peft_delta: Vec<f32> = expected[name].1.iter().zip(w).map(|(m, b)| m - b).collect();
        assert!(max_abs_diff(&d, &peft_delta) <= 1e-5, "{name}");
        let h = half.delta(name, shape).unwrap().unwrap();
        let doubled: Vec<f32> = h.iter().map(|x| 2.0 * x).collect();
        assert!(max_abs_diff(&doubled, &d) <= 1e-6, "{name}");
    }
    assert!(a.delta("model.norm.weight", [1, 64]).unwrap().is_none());
    let mut w = vec![1f32; 64];
    assert!(!a
        .merge_into("model.layers.0.self_attn.k_proj.weight", [1, 64], &mut w)
        .unwrap());
    assert_eq!(w, vec![1f32; 64]);
}

#[test]
fn wrong_shapes_name_adapter_tensor_and_both_shapes() {
    let dir = lora_dir().join("adapters/wrong_shape");
    let a = LoraAdapter::open(&dir, 1.0).unwrap();
    let name = "model.layers.0.self_attn.q_proj.weight";
    let mut w = vec![0f32; 64 * 64];
    let e = a
        .merge_into(name, [64, 64], &mut w)
        .unwrap_err()
        .to_string();
    for part in ["wrong_shape", name, "[64, 64]", "[32, 32]", "[2, 32]"] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
    assert!(a.delta(name, [64, 64]).is_err());
    let e = a
        .merge_into(name, [64, 64], &mut w[..10])
        .unwrap_err()
        .to_string();
    assert!(e.contains(name), "{e}");
}

/// A scratch adapter directory, removed on drop.
struct TempAdapter(PathBuf);

impl TempAdapter {
    fn new(tag: &str, config: &Value, tensors: &TensorList) -> TempAdapter {
        let dir = std::env::temp_dir().join(format!("edgelm-lora-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join("adapter_model.safetensors"))
            .unwrap();
        TempAdapter(dir)
    }
}

impl Drop for TempAdapter {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `plain` fixture adapter's config and tensors, to be altered.
fn plain() -> (Value, TensorList) {
    let dir = lora_dir().join("adapters/plain");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    let tensors = load(&dir.join("adapter_model.safetensors"))
        .into_iter()
        .map(|(n, (s, d))| (n, s, d))
        .collect();
    (config, tensors)
}

#[test]
fn other_tensor_name_forms_merge_the_same() {
    // No `base_model.model.` prefix and peft's in-memory `.lora_A.default.weight` form.
    let (config, tensors) = plain();
    let renamed: Vec<_> = tensors
        .into_iter()
        .map(|(n, s, d)| {
            let n = n
                .strip_prefix("base_model.model.")
                .unwrap()
                .replace(".lora_A.weight", ".lora_A.default.weight")
                .replace(".lora_B.weight", ".lora_B.default.weight");
            (n, s, d)
        })
        .collect();
    let t = TempAdapter::new("renamed", &config, &renamed);
    let dir = lora_dir();
    let base = load(&dir.join("base/model.safetensors"));
    let (merged, _) = merge_all(&base, &[LoraAdapter::open(&t.0, 1.0).unwrap()]);
    for (name, (_, data)) in load(&dir.join("expected_plain.safetensors")) {
        assert!(max_abs_diff(&merged[&name].1, &data) <= 1e-5, "{name}");
    }
}

#[test]
fn fan_in_fan_out_merges_into_the_transposed_weight() {
    // The same adapter declared fan_in_fan_out (GPT-2 Conv1D layout): merging into Wᵀ must
    // give peft's merge transposed.
    let (mut config, tensors) = plain();
    config["fan_in_fan_out"] = Value::Bool(true);
    let t = TempAdapter::new("fifo", &config, &tensors);
    let a = LoraAdapter::open(&t.0, 1.0).unwrap();
    assert!(a.fan_in_fan_out());
    let dir = lora_dir();
    let base = load(&dir.join("base/model.safetensors"));
    let expected = load(&dir.join("expected_plain.safetensors"));
    let name = "model.layers.1.self_attn.k_proj.weight";
    let (shape, w) = &base[name];
    let (out, inp) = (shape[0], shape[1]);
    let transpose = |m: &[f32], rows: usize, cols: usize| -> Vec<f32> {
        (0..cols)
            .flat_map(|j| (0..rows).map(move |i| m[i * cols + j]))
            .collect()
    };
    let mut wt = transpose(w, out, inp);
    assert!(a.merge_into(name, [inp, out], &mut wt).unwrap());
    let back = transpose(&wt, inp, out);
    assert!(max_abs_diff(&back, &expected[name].1) <= 1e-5);
    // [out, in] is now the wrong layout (k_proj is not square).
    let mut w2 = w.clone();
    let e = a
        .merge_into(name, [out, inp], &mut w2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fan_in_fan_out"), "{e}");
    // peft clears the flag on nn.Linear modules; for_linear_layers does the same.
    let lin = a.for_linear_layers();
    let mut w3 = w.clone();
    assert!(lin.merge_into(name, [out, inp], &mut w3).unwrap());
    assert!(max_abs_diff(&w3, &expected[name].1) <= 1e-5);
}

fn open_err(tag: &str, config: &Value, tensors: &TensorList) -> String {
    let t = TempAdapter::new(tag, config, tensors);
    let e = LoraAdapter::open(&t.0, 1.0).unwrap_err().to_string();
    assert!(
        e.contains(&format!("edgelm-lora-{}-{tag}", std::process::id())),
        "{tag}: adapter not named in: {e}"
    );
    e
}

#[test]
fn unsupported_configs_are_errors_naming_the_adapter() {
    let (config, tensors) = plain();
    let cases: &[(&str, &str, Value, &str)] = &[
        ("dora", "use_dora", Value::Bool(true), "DoRA"),
        (
            "mts",
            "modules_to_save",
            serde_json::json!(["lm_head"]),
            "modules_to_save",
        ),
        ("bias", "bias", Value::from("lora_only"), "bias"),
        ("lorabias", "lora_bias", Value::Bool(true), "lora_bias"),
        (
            "layers",
            "layers_to_transform",
            serde_json::json!([0]),
            "layers_to_transform",
        ),
        (
            "pissa",
            "init_lora_weights",
            Value::from("pissa"),
            "modified base",
        ),
        ("adalora", "peft_type", Value::from("ADALORA"), "ADALORA"),
        (
            "badregex",
            "target_modules",
            Value::from("(q|v_proj"),
            "regex",
        ),
        (
            "notarget",
            "target_modules",
            serde_json::json!(["q_proj"]),
            "does not select",
        ),
        (
            "rankpat",
            "rank_pattern",
            serde_json::json!({"o_proj": 4}),
            "rank",
        ),
        ("rank", "r", Value::from(16), "rank"),
        ("alpha", "lora_alpha", Value::Null, "lora_alpha"),
    ];
    for (tag, key, value, why) in cases {
        let mut c = config.clone();
        c[*key] = value.clone();
        let e = open_err(tag, &c, &tensors);
        assert!(e.contains(why), "{tag}: {why:?} missing from: {e}");
    }
}

#[test]
fn unsupported_tensors_are_errors_naming_the_adapter() {
    let (config, tensors) = plain();
    let a_name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    let with = |extra: (&str, Vec<usize>)| {
        let mut t = tensors.clone();
        let n: usize = extra.1.iter().product();
        t.push((extra.0.to_owned(), extra.1, vec![0.5; n]));
        t
    };
    let e = open_err(
        "emb",
        &config,
        &with((
            "base_model.model.model.embed_tokens.lora_embedding_A",
            vec![8, 512],
        )),
    );
    assert!(e.contains("embedding"), "{e}");
    let e = open_err(
        "mag",
        &config,
        &with((
            "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
            vec![64, 1],
        )),
    );
    assert!(e.contains("DoRA"), "{e}");
    let e = open_err(
        "lbias",
        &config,
        &with((
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias",
            vec![1, 64],
        )),
    );
    assert!(e.contains("bias"), "{e}");
    let only_b: Vec<_> = tensors.iter().filter(|t| t.0 != a_name).cloned().collect();
    let e = open_err("unpaired", &config, &only_b);
    assert!(e.contains("no matching lora_A"), "{e}");
    let e = open_err(
        "dup",
        &config,
        &with((
            "model.layers.0.self_attn.q_proj.lora_A.default.weight",
            vec![8, 64],
        )),
    );
    assert!(e.contains("both lora_A"), "{e}");
}

#[test]
fn a_target_missing_from_the_model_is_an_error() {
    // A LoRA for layer 5 of a 2-layer model: opening works, the end-of-run check names it.
    let (config, mut tensors) = plain();
    for (n, _, _) in tensors.iter_mut() {
        *n = n.replace(".layers.1.", ".layers.5.");
    }
    let t = TempAdapter::new("missing", &config, &tensors);
    let a = LoraAdapter::open(&t.0, 1.0).unwrap();
    let base = load(&lora_dir().join("base/model.safetensors"));
    let names: HashSet<String> = base.keys().cloned().collect();
    let e = a.check_all_used(&names).unwrap_err().to_string();
    assert!(
        e.contains("model.layers.5.") && e.contains("edgelm-lora-"),
        "{e}"
    );
}
