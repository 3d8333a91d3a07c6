//! edgelm-compress on Hugging Face directories of every architecture it converts, against
//! llama.cpp's convert_hf_to_gguf.py output for the same checkpoints: the tiny models of
//! tests/fixtures/tiny/. Their HF directories are rebuilt from the committed GGUFs by
//! tests/fixtures/tiny/gguf_to_hf.py (gguf-py; checked identical to the directories
//! make_tiny_models.py converted, see that script). Our F16 file must equal the converter's
//! key by key (the `general.*` naming keys aside), tensor by tensor (name, order, type,
//! shape, bytes), and give the same logits in the runtime; our F32 file must hold the same
//! values.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::Quant;
use edgelm_compress::source::Checkpoint;
use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::model::{LogitsFor, Model};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::Precision;
use edgelm_tests::{fixtures_dir, test_python};

/// Keys the converter derives from the directory name or the tensor count (its
/// `general.name` is the class's, ours the directory's): not compared.
const NAME_KEYS: &[&str] = &[
    "general.name",
    "general.basename",
    "general.finetune",
    "general.size_label",
    "general.version",
    "general.organization",
];

static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();

const ARCHS: &[&str] = &["qwen3", "gemma3", "gemma2", "phi3", "gpt2", "llama"];

/// The rebuilt HF directories (one python run for all tests), in a per-process folder
/// that the last test to finish removes (see [`Finished`]).
fn hf_root() -> Option<&'static PathBuf> {
    ROOT.get_or_init(|| {
        let python = test_python()?;
        let root = std::env::temp_dir().join(format!("edgelm-archs-{}", std::process::id()));
        let out = Command::new(python)
            .arg(fixtures_dir().join("tiny/gguf_to_hf.py"))
            .arg("--out")
            .arg(&root)
            .args(ARCHS)
            .output()
            .expect("run gguf_to_hf.py");
        assert!(
            out.status.success(),
            "gguf_to_hf.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(root)
    })
    .as_ref()
}

/// The number of tests in this file that use [`hf_root`].
const N_TESTS: usize = 8;
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Held by each test: the last one to drop it removes the rebuilt directories.
struct Finished;
impl Drop for Finished {
    fn drop(&mut self) {
        if FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == N_TESTS {
            if let Some(Some(root)) = ROOT.get() {
                let _ = std::fs::remove_dir_all(root);
            }
        }
    }
}

struct Removed(PathBuf);
impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn compress(dir: &Path, quant: &str) -> (GgufFile, Removed) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let out = std::env::temp_dir().join(format!(
        "edgelm-arch-{name}-{quant}-{}.gguf",
        std::process::id()
    ));
    let opts = Options {
        quant: Quant::parse(quant).unwrap(),
        overrides: Vec::new(),
        loras: Vec::new(),
        threads: 2,
    };
    let ckpt = Checkpoint::open(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    pipeline::compress(&ckpt, &opts, &out, &|_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    (GgufFile::open(&out).unwrap(), Removed(out))
}

fn logits(path: &Path, ids: &[u32]) -> Vec<f32> {
    let model = Model::load(path).unwrap();
    let opts = SessionOptions {
        n_ctx: 16,
        kv_type: KvType::F32,
        precision: Precision::Precise,
        n_batch: 8,
    };
    let mut s = Session::new(std::sync::Arc::new(model), &opts).unwrap();
    s.eval(ids, LogitsFor::All).unwrap()
}

fn check(name: &str) {
    let _done = Finished;
    let Some(root) = hf_root() else { return };
    let theirs_path = fixtures_dir().join(format!("tiny/{name}.gguf"));
    let theirs = GgufFile::open(&theirs_path).unwrap();
    let (ours, ours_file) = compress(&root.join(name), "F16");

    // Metadata: the same keys in the same order, with the same types and values.
    let keep = |m: &[(String, _)]| -> Vec<String> {
        m.iter()
            .map(|(k, _): &(String, _)| k.clone())
            .filter(|k| !NAME_KEYS.contains(&k.as_str()))
            .collect()
    };
    assert_eq!(
        keep(ours.metadata()),
        keep(theirs.metadata()),
        "{name}: keys"
    );
    for (k, v) in theirs.metadata() {
        if !NAME_KEYS.contains(&k.as_str()) {
            assert_eq!(ours.get(k), Some(v), "{name}: {k}");
        }
    }
    // Tensors: names, order, types, shapes, bytes.
    let names = |f: &GgufFile| -> Vec<(String, Vec<u64>, GgmlType)> {
        f.tensors()
            .iter()
            .map(|t| (t.name.clone(), t.dims.clone(), t.ty))
            .collect()
    };
    assert_eq!(names(&ours), names(&theirs), "{name}: tensors");
    for (a, b) in ours.tensors().iter().zip(theirs.tensors()) {
        assert!(
            ours.tensor_data(a) == theirs.tensor_data(b),
            "{name}: {} differs",
            a.name
        );
    }

    // The runtime gives the same logits on both files.
    let meta = edgelm_tests::tiny_meta(name);
    let ids = edgelm_tests::tiny_ids(&meta, "input_ids");
    let a = logits(&ours_file.0, &ids);
    let b = logits(&theirs_path, &ids);
    assert!(a == b, "{name}: logits differ");

    // F32: every value the converter's F16 file holds, widened.
    let (f32_file, _gone) = compress(&root.join(name), "F32");
    for (a, b) in f32_file.tensors().iter().zip(theirs.tensors()) {
        assert_eq!(a.name, b.name);
        let wide: Vec<f32> = match b.ty {
            GgmlType::F16 => theirs
                .tensor_data(b)
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => theirs
                .tensor_data(b)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        };
        let ours: Vec<f32> = f32_file
            .tensor_data(a)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert!(ours == wide, "{name} F32: {} differs", a.name);
    }
}

#[test]
fn qwen3_equals_the_converter() {
    check("qwen3");
}

#[test]
fn gemma3_equals_the_converter_norms_plus_one() {
    check("gemma3");
}

#[test]
fn phi3_equals_the_converter_fused_qkv_gate_up() {
    check("phi3");
}

#[test]
fn gpt2_equals_the_converter_conv1d_transposed() {
    check("gpt2");
}

/// The order and names now come from the architecture spec for llama too.
#[test]
fn llama_equals_the_converter() {
    check("llama");
}

/// Gemma 2's vocabulary is a SentencePiece tokenizer.model (a real one, trained by
/// sentencepiece: BPE with byte fallback), which the converter turns into tokens, scores
/// and types, with add_space_prefix off.
#[test]
fn gemma2_equals_the_converter_sentencepiece_vocabulary() {
    check("gemma2");
}

/// A damaged tokenizer.model: a clear error naming the file, not a panic and no output.
#[test]
fn gemma2_bad_tokenizer_model_is_a_clear_error() {
    let _done = Finished;
    let Some(root) = hf_root() else { return };
    let good = std::fs::read(root.join("gemma2/tokenizer.model")).unwrap();
    let dir = std::env::temp_dir().join(format!("edgelm-arch-badspm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        std::fs::copy(root.join("gemma2").join(f), dir.join(f)).unwrap();
    }
    let spm = dir.join("tokenizer.model");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no pieces"),
        ("cut in half", good[..good.len() / 2].to_vec(), "left"),
        ("cut by one byte", good[..good.len() - 1].to_vec(), "left"),
        ("text", b"not a model".to_vec(), "SentencePiece"),
        ("a JSON file", b"{\"model\": {}}".to_vec(), "SentencePiece"),
    ];
    for (what, bytes, want) in cases {
        std::fs::write(&spm, bytes).unwrap();
        let e = Checkpoint::open(&dir)
            .err()
            .unwrap_or_else(|| panic!("{what}: must fail"))
            .to_string();
        assert!(e.starts_with(&spm.display().to_string()), "{what}: {e}");
        assert!(e.contains(want), "{what}: {e}");
    }
    std::fs::remove_file(&spm).unwrap();
    let e = Checkpoint::open(&dir)
        .err()
        .expect("no tokenizer.model")
        .to_string();
    assert!(e.starts_with(&spm.display().to_string()), "{e}");
    assert!(e.contains("is missing"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A LoRA adapter made for llama modules, applied to GPT-2: an error naming the
/// adapter's module and listing the modules GPT-2 has.
#[test]
fn adapter_for_modules_the_model_lacks_lists_the_models_modules() {
    let _done = Finished;
    let Some(root) = hf_root() else { return };
    let adapter = fixtures_dir().join("lora/adapters/plain");
    let opts = Options {
        quant: Quant::parse("F32").unwrap(),
        overrides: Vec::new(),
        loras: vec![edgelm_compress::lora::LoraAdapter::open(&adapter, 1.0).unwrap()],
        threads: 2,
    };
    let out = std::env::temp_dir().join(format!("edgelm-arch-lora-{}.gguf", std::process::id()));
    let ckpt = Checkpoint::open(&root.join("gpt2")).unwrap();
    let e = pipeline::compress(&ckpt, &opts, &out, &|_| {})
        .err()
        .expect("a llama adapter cannot apply to GPT-2")
        .to_string();
    assert!(!out.exists());
    assert!(e.contains("model.layers.0."), "{e}");
    assert!(e.contains("transformer.h.0.attn.c_attn"), "{e}");
    assert!(e.contains("transformer.wte"), "{e}");
    assert!(!e.contains("transformer.h.1."), "{e}");
}
