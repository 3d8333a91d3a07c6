//! Files written by edgelm-compress, read back by gguf-py (an independent GGUF reader and
//! dequantizer): tests/fixtures/compress/check_with_gguf_py.py checks metadata, the tensor
//! set, each tensor's type and every dequantized value against the HF input.

use std::path::PathBuf;
use std::process::Command;

use edgelm_compress::pipeline::{self, Options};
use edgelm_compress::recipe::{Override, Quant};
use edgelm_compress::source::Checkpoint;
use edgelm_tests::{fixtures_dir, smollm2_hf_dir, test_python};

fn check(input: PathBuf, quant: &str, overrides: &[&str], default_type: &str) {
    let Some(python) = test_python() else { return };
    let out: PathBuf = std::env::temp_dir().join(format!(
        "edgelm-interop-{}-{quant}-{}.gguf",
        std::process::id(),
        overrides.len()
    ));
    let opts = Options {
        quant: Quant::parse(quant).unwrap(),
        overrides: overrides
            .iter()
            .map(|o| Override::parse(o).unwrap())
            .collect(),
        loras: Vec::new(),
        threads: 2,
    };
    let ckpt = Checkpoint::open(&input).unwrap();
    pipeline::compress(&ckpt, &opts, &out, &|_| {}).unwrap();
    let result = Command::new(&python)
        .arg(fixtures_dir().join("compress/check_with_gguf_py.py"))
        .arg(&out)
        .arg(&input)
        .arg(overrides.join(","))
        .arg(default_type)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let _ = std::fs::remove_file(&out);
    assert!(
        result.status.success(),
        "gguf-py check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(stdout.contains("OK: "), "{stdout}");
}

#[test]
fn gguf_py_reads_f32_files_exactly() {
    check(fixtures_dir().join("lora/base"), "F32", &[], "F32");
}

#[test]
fn gguf_py_reads_mixed_block_quant_files() {
    check(
        fixtures_dir().join("lora/base"),
        "Q8_0",
        &[
            "attn_v=Q4_1",
            "ffn_down=F16",
            "attn_q=Q5_0",
            "ffn_up=Q4_0",
            "attn_k=Q5_1",
        ],
        "Q8_0",
    );
}

/// The tiny model's rows (64, 128) fit no 256-element K block; SmolLM2's ffn_down rows
/// (1536) do.
#[test]
fn gguf_py_reads_k_quant_files() {
    let Some(hf) = smollm2_hf_dir() else { return };
    check(
        hf,
        "Q8_0",
        &[
            r"blk\.1\.ffn_down=Q2_K",
            r"blk\.2\.ffn_down=Q3_K",
            r"blk\.3\.ffn_down=Q4_K",
            r"blk\.4\.ffn_down=Q5_K",
            r"blk\.5\.ffn_down=Q6_K",
        ],
        "Q8_0",
    );
}
