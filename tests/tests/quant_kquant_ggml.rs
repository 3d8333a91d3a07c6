//! Our K-quant quantizers (Q2_K..Q6_K) against ggml's own bytes: the fixtures in
//! tests/fixtures/quant/kquant/ come from libggml-base's `ggml_quantize_chunk` without
//! an importance matrix (see make_kquant_fixtures.py beside them), and every byte of
//! every block must match.

use edgelm_kernels::quant::{dequantize_row, quantize_row, quantize_rows, GgmlType};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quant/kquant")
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

const TYPES: [GgmlType; 5] = [
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

struct Case {
    name: String,
    rows: usize,
    n_per_row: usize,
    input: Vec<f32>,
    /// ggml's bytes per type, in `TYPES` order.
    want: Vec<(GgmlType, Vec<u8>)>,
}

fn cases() -> Vec<Case> {
    let index: serde_json::Value =
        serde_json::from_slice(&read("index.json")).expect("index.json parses");
    let cases: Vec<Case> = index["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| {
            let rows = c["rows"].as_u64().unwrap() as usize;
            let n_per_row = c["n_per_row"].as_u64().unwrap() as usize;
            let input = f32s(&read(c["input"].as_str().unwrap()));
            assert_eq!(input.len(), rows * n_per_row);
            let want = TYPES
                .iter()
                .map(|&ty| {
                    let file = c["quant"][ty.name()].as_str().expect("a file per type");
                    (ty, read(file))
                })
                .collect();
            Case {
                name: c["name"].as_str().unwrap().to_owned(),
                rows,
                n_per_row,
                input,
                want,
            }
        })
        .collect();
    // Guard against an index that silently lost cases.
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["random", "awkward", "smollm2"]);
    cases
}

#[test]
fn k_quants_match_ggml_bytes() {
    let mut blocks = 0;
    for c in cases() {
        for (ty, want) in &c.want {
            let row_bytes = ty.row_bytes(c.n_per_row).unwrap();
            assert_eq!(want.len(), c.rows * row_bytes, "{} {ty}", c.name);
            for (r, (x, want_row)) in c
                .input
                .chunks(c.n_per_row)
                .zip(want.chunks(row_bytes))
                .enumerate()
            {
                let mut got = vec![0u8; row_bytes];
                quantize_row(*ty, x, &mut got).unwrap();
                let bs = ty.type_size();
                for (b, (g, w)) in got.chunks(bs).zip(want_row.chunks(bs)).enumerate() {
                    assert_eq!(g, w, "{} {ty}: row {r} block {b} differs", c.name);
                    blocks += 1;
                }
            }
        }
    }
    // 3x512 random + 10x256 awkward + 3x1536 SmolLM2 = 34 super-blocks per type.
    assert_eq!(blocks, 34 * TYPES.len());
}

#[test]
fn quantize_rows_matches_ggml_for_whole_tensors() {
    for c in cases() {
        for (ty, want) in &c.want {
            let mut got = vec![0u8; want.len()];
            quantize_rows(*ty, &c.input, c.n_per_row, &mut got).unwrap();
            assert!(got == *want, "{} {ty}: bytes differ", c.name);
        }
    }
}

/// The error our (bit-exact) quantizers make on real SmolLM2 weights, bounded so a
/// regression in the dequantizers shows too.
#[test]
fn smollm2_slice_relative_rmse() {
    let c = cases().into_iter().find(|c| c.name == "smollm2").unwrap();
    let bounds = [0.36, 0.18, 0.025, 0.025, 0.025];
    for ((ty, want), bound) in c.want.iter().zip(bounds) {
        let mut y = vec![0f32; c.input.len()];
        for (q, y) in want
            .chunks(ty.row_bytes(c.n_per_row).unwrap())
            .zip(y.chunks_mut(c.n_per_row))
        {
            dequantize_row(*ty, q, y);
        }
        let (mut err, mut sig) = (0f64, 0f64);
        for (&a, &b) in c.input.iter().zip(&y) {
            err += (a as f64 - b as f64).powi(2);
            sig += (a as f64).powi(2);
        }
        let rel = (err / sig).sqrt();
        eprintln!("SmolLM2 slice {ty}: relative RMSE {rel:.5}");
        assert!(rel < bound, "{ty}: relative RMSE {rel}");
    }
}
