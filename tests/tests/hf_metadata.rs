//! edgelm-compress's Hugging Face metadata (config.json + tokenizer.json → GGUF keys)
//! against llama.cpp's convert_hf_to_gguf.py and HF `tokenizers`. Fixtures and the script
//! that made them: tests/fixtures/hf/make_hf_meta_fixture.py.

use std::path::{Path, PathBuf};

use edgelm_compress::hf::{tokenizer_metadata, HfConfig};
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};
use edgelm_runtime::tokenizer::Tokenizer;
use serde_json::Value;

/// Keys the converter derives from the directory name or the tensors (name, size label
/// ...): ours are a simpler naming, so they are not compared.
const NAME_KEYS: &[&str] = &[
    "general.name",
    "general.basename",
    "general.finetune",
    "general.size_label",
    "general.version",
    "general.organization",
];

fn hf_dir(name: &str) -> PathBuf {
    edgelm_tests::fixtures_dir().join("hf").join(name)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// FNV-1a 64 over the array's elements, serialized as the fixture script does.
fn fnv64(a: &MetaArray) -> String {
    let mut bytes: Vec<u8> = Vec::new();
    match a {
        MetaArray::String(v) => {
            for s in v {
                bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
                bytes.extend_from_slice(s.as_bytes());
            }
        }
        MetaArray::I32(v) => v
            .iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes())),
        MetaArray::U32(v) => v
            .iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes())),
        MetaArray::F32(v) => v
            .iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes())),
        MetaArray::Bool(v) => v.iter().for_each(|x| bytes.push(u8::from(*x))),
        other => panic!("no hash for {}", other.elem_type_name()),
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The JSON value the fixture holds for a scalar.
fn scalar_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::U32(x) => Value::from(*x),
        MetaValue::I32(x) => Value::from(*x),
        MetaValue::U64(x) => Value::from(*x),
        MetaValue::F32(x) => Value::from(f64::from(*x)),
        MetaValue::Bool(x) => Value::from(*x),
        MetaValue::String(x) => Value::from(x.clone()),
        other => panic!("unexpected scalar {other:?}"),
    }
}

/// Checks one of our values against one fixture entry: type, then value (arrays: length,
/// first elements, hash).
fn check_entry(key: &str, ours: &MetaValue, want: &Value) {
    assert_eq!(
        ours.type_name(),
        want["type"].as_str().unwrap(),
        "{key}: type"
    );
    match ours {
        MetaValue::Array(a) => {
            assert_eq!(
                a.len() as u64,
                want["len"].as_u64().unwrap(),
                "{key}: length"
            );
            let head: Vec<Value> = match a {
                MetaArray::String(v) => v.iter().take(5).map(Value::from).collect(),
                MetaArray::I32(v) => v.iter().take(5).map(|x| Value::from(*x)).collect(),
                MetaArray::F32(v) => v
                    .iter()
                    .take(5)
                    .map(|x| Value::from(f64::from(*x)))
                    .collect(),
                _ => Vec::new(),
            };
            assert_eq!(Value::from(head), want["head"], "{key}: first elements");
            assert_eq!(
                fnv64(a),
                want["fnv64"].as_str().unwrap(),
                "{key}: contents hash"
            );
        }
        v => assert_eq!(scalar_json(v), want["value"], "{key}: value"),
    }
}

fn our_metadata(dir: &Path, file_type: u32) -> Vec<(String, MetaValue)> {
    let cfg = HfConfig::load(dir).unwrap();
    let mut meta = cfg.metadata("edgelm test", file_type);
    meta.extend(tokenizer_metadata(dir, &cfg).unwrap());
    meta
}

#[test]
fn smollm2_metadata_equals_convert_hf_to_gguf() {
    // The converter ran with --outtype f16: file type 1 (LLAMA_FTYPE_MOSTLY_F16).
    let ours = our_metadata(&hf_dir("smollm2"), 1);
    let want = read_json(&hf_dir("smollm2.converter.json"));
    let want: Vec<&Value> = want.as_array().unwrap().iter().collect();
    let compared = |k: &str| !NAME_KEYS.contains(&k);

    let want_keys: Vec<&str> = want
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .filter(|k| compared(k))
        .collect();
    let our_keys: Vec<&str> = ours
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| compared(k))
        .collect();
    // Same keys in the same order.
    assert_eq!(our_keys, want_keys);
    for e in want {
        let key = e["key"].as_str().unwrap();
        if !compared(key) {
            continue;
        }
        let (_, v) = ours.iter().find(|(k, _)| k == key).unwrap();
        check_entry(key, v, e);
    }
    assert!(ours.iter().any(|(k, _)| k == "general.name"));
}

/// The hyper-parameter keys of the tiny models' GGUFs, which convert_hf_to_gguf.py wrote
/// (tests/fixtures/tiny/make_tiny_models.py), from the same configs.
#[test]
fn tiny_config_metadata_equals_converted_ggufs() {
    for arch in ["llama", "mistral", "qwen2"] {
        let gguf_path = edgelm_tests::fixtures_dir()
            .join("tiny")
            .join(format!("{arch}.gguf"));
        let f = GgufFile::open(&gguf_path).unwrap();
        let file_type = f.get_u32("general.file_type").unwrap().unwrap();
        let cfg = HfConfig::load(&hf_dir("tiny_configs").join(arch)).unwrap();
        let ours = cfg.metadata("edgelm test", file_type);
        let theirs: Vec<&(String, MetaValue)> = f
            .metadata()
            .iter()
            .filter(|(k, _)| !k.starts_with("tokenizer.") && !NAME_KEYS.contains(&k.as_str()))
            .collect();
        let ours: Vec<&(String, MetaValue)> = ours
            .iter()
            .filter(|(k, _)| !NAME_KEYS.contains(&k.as_str()))
            .collect();
        assert_eq!(ours, theirs, "{arch}");
    }
}

/// Our tokenizer metadata, through a GGUF written and read back, builds the runtime's
/// tokenizer, which encodes as HF `tokenizers` does.
#[test]
fn tiny_bpe_tokenizers_encode_as_hf() {
    let cases = read_json(&hf_dir("tiny_bpe").join("cases.json"));
    for (pre, c) in cases.as_object().unwrap() {
        let dir = hf_dir("tiny_bpe").join(pre);
        let meta = our_metadata(&dir, 1);
        let mut w = GgufWriter::new();
        for (k, v) in meta {
            w.add_metadata(k, v);
        }
        let f = GgufFile::from_bytes(format!("{pre}.gguf"), w.to_bytes()).unwrap();
        assert_eq!(f.get_str("tokenizer.ggml.pre").unwrap(), Some(pre.as_str()));
        let tok = Tokenizer::from_gguf(&f).unwrap();

        // The vocabulary is padded to config.json's vocab_size, 4 past the tokenizer's.
        let n = c["vocab"].as_u64().unwrap() as usize;
        assert_eq!(tok.vocab_size(), n + 4, "{pre}");
        let types = f
            .get_i32_array("tokenizer.ggml.token_type")
            .unwrap()
            .unwrap();
        for (id, ty) in types.iter().enumerate().skip(n) {
            assert_eq!(
                tok.token_str(id as u32),
                Some(format!("[PAD{id}]").as_str())
            );
            assert_eq!(*ty, 5, "{pre}: [PAD{id}] is unused");
        }
        assert_eq!(tok.bos(), Some(1));
        assert_eq!(tok.eos(), Some(2));
        assert!(!tok.add_bos());
        assert!(tok.chat_template().is_some());

        for case in c["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            // HF matches added tokens in the text; the runtime does with parse_special.
            assert_eq!(tok.encode(text, false, true), want, "{pre}: {text:?}");
        }
    }
}

/// A scratch copy of a fixture directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn copy_of(src: &Path, tag: &str) -> Scratch {
        let dst = std::env::temp_dir().join(format!("edgelm-hf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dst);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
        Scratch(dst)
    }

    fn edit_json(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let p = self.0.join(name);
        let mut v = read_json(&p);
        f(&mut v);
        std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn unsupported_inputs_are_errors_naming_the_file() {
    let src = hf_dir("tiny_bpe").join("gpt2");

    let s = Scratch::copy_of(&src, "pre");
    s.edit_json("tokenizer.json", |v| {
        v["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
    });
    let cfg = HfConfig::load(&s.0).unwrap();
    let e = tokenizer_metadata(&s.0, &cfg).unwrap_err().to_string();
    let path = s.0.join("tokenizer.json");
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(
        e.contains("Whitespace") && e.contains("pre_tokenizer"),
        "{e}"
    );

    let s = Scratch::copy_of(&src, "missing");
    std::fs::remove_file(s.0.join("tokenizer.json")).unwrap();
    let cfg = HfConfig::load(&s.0).unwrap();
    let e = tokenizer_metadata(&s.0, &cfg).unwrap_err().to_string();
    assert!(e.starts_with(&path_in(&s, "tokenizer.json")), "{e}");
    assert!(e.contains("missing"), "{e}");

    let s = Scratch::copy_of(&src, "arch");
    s.edit_json("config.json", |v| {
        v["architectures"] = serde_json::json!(["MambaForCausalLM"]);
    });
    let e = HfConfig::load(&s.0).unwrap_err().to_string();
    assert!(e.starts_with(&path_in(&s, "config.json")), "{e}");
    assert!(
        e.contains("MambaForCausalLM")
            && e.contains("LlamaForCausalLM")
            && e.contains("Qwen2ForCausalLM"),
        "{e}"
    );

    let s = Scratch::copy_of(&src, "noconfig");
    std::fs::remove_file(s.0.join("config.json")).unwrap();
    let e = HfConfig::load(&s.0).unwrap_err().to_string();
    assert!(e.starts_with(&path_in(&s, "config.json")), "{e}");
}

fn path_in(s: &Scratch, name: &str) -> String {
    s.0.join(name).display().to_string()
}
