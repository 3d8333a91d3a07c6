//! Our block formats against gguf-py 0.19.0 (the fixtures and the script that made
//! them live in tests/fixtures/quant/): quantized bytes and dequantized floats must
//! match exactly, bit for bit.

use edgelm_kernels::quant::{dequantize_row, quantize_row, GgmlType};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quant")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

struct Case {
    ty: GgmlType,
    n: usize,
    input: Option<String>,
    quant: String,
    dequant: String,
}

fn cases() -> Vec<Case> {
    let index: serde_json::Value =
        serde_json::from_slice(&read("index.json")).expect("index.json parses");
    assert_eq!(index["gguf_version"], "0.19.0");
    let cases: Vec<Case> = index["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| Case {
            ty: GgmlType::from_name(c["type"].as_str().unwrap()).unwrap(),
            n: c["n"].as_u64().unwrap() as usize,
            input: c["input"].as_str().map(str::to_owned),
            quant: c["quant"].as_str().unwrap().to_owned(),
            dequant: c["dequant"].as_str().unwrap().to_owned(),
        })
        .collect();
    // Guard against an index that silently lost cases.
    assert_eq!(cases.len(), 3 * 7 + 5);
    cases
}

#[test]
fn quantize_matches_gguf_py_bytes() {
    let mut checked = 0;
    for c in cases() {
        let Some(input) = &c.input else { continue };
        let x = f32s(&read(input));
        assert_eq!(x.len(), c.n);
        let want = read(&c.quant);
        let mut got = vec![0u8; c.ty.row_bytes(c.n).unwrap()];
        quantize_row(c.ty, &x, &mut got).unwrap();
        assert_eq!(got.len(), want.len(), "{} n={}", c.ty, c.n);
        let bs = c.ty.type_size() * (32 / c.ty.block_size()).max(1);
        for (i, (g, w)) in got.chunks(bs).zip(want.chunks(bs)).enumerate() {
            assert_eq!(g, w, "{} n={}: block {i} differs", c.ty, c.n);
        }
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn dequantize_matches_gguf_py_bits() {
    for c in cases() {
        let q = read(&c.quant);
        let want = f32s(&read(&c.dequant));
        assert_eq!(want.len(), c.n);
        let mut got = vec![0f32; c.n];
        dequantize_row(c.ty, &q, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{} n={}: element {i}: ours {g} gguf-py {w}",
                c.ty,
                c.n
            );
        }
    }
}
