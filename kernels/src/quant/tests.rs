//! Self-consistency checks of the block formats. Bit-exactness against gguf-py is
//! tested in `tests/tests/quant_gguf_py.rs`.

use super::*;

/// xorshift64*: deterministic values for tests without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

#[test]
fn block_sizes_match_the_type_table() {
    let sizes = [
        (GgmlType::Q4_0, q4_0::BLOCK_BYTES),
        (GgmlType::Q4_1, q4_1::BLOCK_BYTES),
        (GgmlType::Q5_0, q5_0::BLOCK_BYTES),
        (GgmlType::Q5_1, q5_1::BLOCK_BYTES),
        (GgmlType::Q8_0, q8_0::BLOCK_BYTES),
        (GgmlType::Q8_1, q8_1::BLOCK_BYTES),
        (GgmlType::Q2_K, q2_k::BLOCK_BYTES),
        (GgmlType::Q3_K, q3_k::BLOCK_BYTES),
        (GgmlType::Q4_K, q4_k::BLOCK_BYTES),
        (GgmlType::Q5_K, q5_k::BLOCK_BYTES),
        (GgmlType::Q6_K, q6_k::BLOCK_BYTES),
        (GgmlType::Q8_K, q8_k::BLOCK_BYTES),
    ];
    for (ty, bytes) in sizes {
        assert_eq!(ty.type_size(), bytes, "{ty}");
    }
}

#[test]
fn round_trip_error_is_within_half_a_step() {
    let mut rng = Rng(7);
    let x: Vec<f32> = (0..512).map(|_| rng.next_f32() * 3.0).collect();
    // Worst-case error relative to the block's largest magnitude (half a step).
    let cases = [
        (GgmlType::F16, 1e-3),
        (GgmlType::BF16, 4e-3),
        (GgmlType::Q8_0, 0.5 / 127.0 + 1e-3),
        (GgmlType::Q8_1, 0.5 / 127.0 + 1e-3),
        (GgmlType::Q8_K, 0.5 / 127.0 + 1e-3),
        // The largest magnitude maps to -8 (-16); its opposite clips at 7 (15).
        (GgmlType::Q4_0, 1.0 / 8.0 + 1e-3),
        (GgmlType::Q5_0, 1.0 / 16.0 + 1e-3),
        (GgmlType::Q4_1, 1.0 / 15.0 + 1e-3),
        (GgmlType::Q5_1, 1.0 / 31.0 + 1e-3),
    ];
    for (ty, tol) in cases {
        let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
        quantize_row(ty, &x, &mut q).unwrap();
        let mut y = vec![0f32; x.len()];
        dequantize_row(ty, &q, &mut y);
        let bs = ty.block_size().max(32);
        for (xb, yb) in x.chunks(bs).zip(y.chunks(bs)) {
            let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in xb.iter().zip(yb) {
                assert!((a - b).abs() <= tol * amax, "{ty}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn q8_1_sum_field_and_q8_k_group_sums() {
    let mut rng = Rng(11);
    let x: Vec<f32> = (0..256).map(|_| rng.next_f32()).collect();
    let mut q = vec![0u8; GgmlType::Q8_1.row_bytes(256).unwrap()];
    quantize_row(GgmlType::Q8_1, &x, &mut q).unwrap();
    for (b, xb) in q.chunks(q8_1::BLOCK_BYTES).zip(x.chunks(32)) {
        let sum: i32 = b[4..].iter().map(|&v| v as i8 as i32).sum();
        let d = q8_0::absmax(xb) / 127.0;
        assert_eq!(
            u16::from_le_bytes([b[2], b[3]]),
            float::f32_to_f16(sum as f32 * d)
        );
    }
    let mut k = vec![0u8; q8_k::BLOCK_BYTES];
    quantize_row(GgmlType::Q8_K, &x, &mut k).unwrap();
    for g in 0..16 {
        let sum: i32 = k[q8_k::QS + 16 * g..q8_k::QS + 16 * g + 16]
            .iter()
            .map(|&v| v as i8 as i32)
            .sum();
        let off = q8_k::BSUMS + 2 * g;
        assert_eq!(sum, i16::from_le_bytes([k[off], k[off + 1]]) as i32);
    }
    // The largest magnitude maps to exactly -127 * sign... and back.
    let mut y = vec![0f32; 256];
    dequantize_row(GgmlType::Q8_K, &k, &mut y);
    let i = (0..256)
        .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
        .unwrap();
    assert!((y[i] - x[i]).abs() <= 1e-6 * x[i].abs());
}

#[test]
fn nearest_int_is_round_half_even() {
    for v in [-2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5, 126.49, -127.0, 3.7] {
        assert_eq!(q8_k::nearest_int(v), v.round_ties_even() as i32, "{v}");
    }
}

#[test]
fn all_zero_blocks() {
    let x = [0f32; 256];
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q8_K,
    ] {
        let mut q = vec![0xffu8; ty.row_bytes(256).unwrap()];
        quantize_row(ty, &x, &mut q).unwrap();
        let mut y = vec![1f32; 256];
        dequantize_row(ty, &q, &mut y);
        assert!(y.iter().all(|&v| v == 0.0), "{ty}");
    }
}

#[test]
fn quantize_errors() {
    let x = [0f32; 40];
    let mut d = vec![0u8; 64];
    assert!(matches!(
        quantize_row(GgmlType::Q4_K, &[0f32; 300], &mut [0u8; 144]),
        Err(QuantError::NotBlockMultiple { block: 256, .. })
    ));
    assert!(matches!(
        quantize_row(GgmlType::Q4_K, &[0f32; 256], &mut [0u8; 143]),
        Err(QuantError::DstSize { expected: 144, .. })
    ));
    assert!(matches!(
        quantize_row(GgmlType::Q8_0, &x, &mut d),
        Err(QuantError::NotBlockMultiple { .. })
    ));
    assert!(matches!(
        quantize_row(GgmlType::Q8_0, &x[..32], &mut d),
        Err(QuantError::DstSize { expected: 34, .. })
    ));
}

const K_QUANTS: [GgmlType; 5] = [
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Gaussian-ish test data (sum of four uniforms) whose scale varies per 32 elements,
/// as weight rows do.
fn weight_like(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut scale = 1.0;
    (0..n)
        .map(|i| {
            if i % 32 == 0 {
                scale = 0.01 + 0.05 * (rng.next_f32() + 1.0);
            }
            let g: f32 = (0..4).map(|_| rng.next_f32()).sum();
            g * scale
        })
        .collect()
}

fn rel_rmse(x: &[f32], y: &[f32]) -> f32 {
    let err: f32 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    let sig: f32 = x.iter().map(|a| a * a).sum();
    (err / sig).sqrt()
}

/// Round-to-nearest in groups of `group` with `bits`-bit quants and exact f32 scales:
/// min/max affine for the types with a min, absmax symmetric otherwise. This is what
/// the K-quants' scale search has to beat (even though their scales are rounded).
fn naive_round(x: &[f32], group: usize, bits: u32, affine: bool) -> Vec<f32> {
    let levels = ((1u32 << bits) - 1) as f32;
    let mut y = Vec::with_capacity(x.len());
    for g in x.chunks(group) {
        let (lo, hi) = g
            .iter()
            .fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        if affine {
            let d = (hi - lo) / levels;
            y.extend(g.iter().map(|&v| ((v - lo) / d).round() * d + lo));
        } else {
            let amax = lo.abs().max(hi);
            let d = amax / (levels / 2.0).floor();
            y.extend(g.iter().map(|&v| (v / d).round() * d));
        }
    }
    y
}

#[test]
fn k_quants_round_trip_with_small_error_better_than_naive_rounding() {
    let x = weight_like(4 * 256, 5);
    // (type, group, bits, affine, largest relative RMSE we accept)
    let cases = [
        (GgmlType::Q2_K, 16, 2, true, 0.35),
        (GgmlType::Q3_K, 16, 3, false, 0.19),
        (GgmlType::Q4_K, 32, 4, true, 0.085),
        (GgmlType::Q5_K, 32, 5, true, 0.043),
        (GgmlType::Q6_K, 16, 6, false, 0.021),
    ];
    for (ty, group, bits, affine, tol) in cases {
        let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
        quantize_row(ty, &x, &mut q).unwrap();
        let mut y = vec![0f32; x.len()];
        dequantize_row(ty, &q, &mut y);
        let ours = rel_rmse(&x, &y);
        let naive = rel_rmse(&x, &naive_round(&x, group, bits, affine));
        eprintln!("{ty}: relative RMSE {ours}, naive {naive}");
        assert!(ours < tol, "{ty}: relative RMSE {ours}");
        assert!(
            ours < naive,
            "{ty}: {ours} is not below naive rounding's {naive}"
        );
    }
}

#[test]
fn k_quants_of_zero_and_constant_blocks() {
    for ty in K_QUANTS {
        for c in [0.0f32, 0.5, -2.0] {
            let x = [c; 256];
            let mut q = vec![0xa5u8; ty.row_bytes(256).unwrap()];
            quantize_row(ty, &x, &mut q).unwrap();
            let mut y = vec![f32::NAN; 256];
            dequantize_row(ty, &q, &mut y);
            for &v in &y {
                assert!((v - c).abs() <= 0.02 * c.abs(), "{ty} const {c}: {v}");
            }
        }
    }
}

#[test]
fn quantize_rows_is_row_by_row() {
    let x = weight_like(3 * 512, 9);
    for ty in K_QUANTS.into_iter().chain([GgmlType::Q4_0, GgmlType::F16]) {
        let rb = ty.row_bytes(512).unwrap();
        let mut all = vec![0u8; 3 * rb];
        quantize_rows(ty, &x, 512, &mut all).unwrap();
        for (r, got) in all.chunks(rb).enumerate() {
            let mut want = vec![0u8; rb];
            quantize_row(ty, &x[512 * r..512 * (r + 1)], &mut want).unwrap();
            assert_eq!(got, &want[..], "{ty} row {r}");
        }
    }
    let ty = GgmlType::Q4_K;
    assert!(matches!(
        quantize_rows(ty, &x[..1000], 512, &mut [0u8; 288]),
        Err(QuantError::NotRowMultiple { .. })
    ));
    assert!(matches!(
        quantize_rows(ty, &x[..1024], 500, &mut [0u8; 288]),
        Err(QuantError::NotBlockMultiple { .. })
    ));
    assert!(matches!(
        quantize_rows(ty, &x[..1024], 512, &mut [0u8; 144]),
        Err(QuantError::DstSize { expected: 576, .. })
    ));
    assert_eq!(quantize_rows(ty, &[], 0, &mut []), Ok(()));
    assert!(quantize_rows(ty, &x[..256], 0, &mut []).is_err());
}
