//! `cpu::matmul` for every weight type against an f64 reference computed from the
//! dequantized weights and (for `Fast`) the dequantized quantized activations;
//! `Fast` close to `Precise`; identical results for 1, 2 and 5 rayon threads and for
//! 1, 2, 3 and 5 threads of a `ThreadPool`, alone or fused in `matmul_batch`; awkward
//! shapes (1 row, rows not a multiple of the chunk, n = 1, 7 and more than a tile).

use edgelm_kernels::cpu::{
    has_vec_dot, matmul, matmul_batch, matmul_in, vec_dot_type, Precision, ThreadPool, Weights,
};
use edgelm_kernels::quant::{
    dequantize_row, float::f32_to_f16, q2_k, q3_k, q6_k, quantize_row, GgmlType,
};

/// xorshift64*: a deterministic generator without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

fn is_k_weight(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K
    )
}

/// A weight matrix of type `ty`: quantized random values where we can quantize,
/// random block bytes with small positive f16 scales for the K-quants.
fn make_weights(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let rb = ty.row_bytes(cols).unwrap();
    let mut data = vec![0u8; rows * rb];
    if is_k_weight(ty) {
        data.iter_mut().for_each(|b| *b = rng.byte());
        let f16_fields: &[usize] = match ty {
            GgmlType::Q2_K => &[q2_k::D, q2_k::D + 2],
            GgmlType::Q3_K => &[q3_k::D],
            GgmlType::Q6_K => &[q6_k::D],
            _ => &[0, 2], // Q4_K, Q5_K: d, dmin first
        };
        for block in data.chunks_exact_mut(ty.type_size()) {
            for &off in f16_fields {
                let v = 0.001 + 0.05 * (rng.f32() + 1.0);
                block[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
            }
        }
    } else {
        let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
        for row in data.chunks_exact_mut(rb) {
            let x: Vec<f32> = x.iter().map(|_| rng.f32() * 0.5).collect();
            quantize_row(ty, &x, row).unwrap();
        }
    }
    data
}

fn dequant(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f64> {
    let mut y = vec![0f32; n];
    dequantize_row(ty, bytes, &mut y);
    y.into_iter().map(f64::from).collect()
}

/// The exact value Fast computes, in f64, and the scale Σ|w·x| for tolerances.
/// Q8_1 activations carry their block sum `s` as an f16 and ggml's Q4_1/Q5_1 dots
/// use it for the offset term, so the reference does too.
fn reference(ty: GgmlType, w_row: &[u8], x: &[f32], fast: bool) -> (f64, f64) {
    let cols = x.len();
    let mut wf = dequant(ty, w_row, cols);
    let xf: Vec<f64> = if fast && has_vec_dot(ty) {
        let vt = vec_dot_type(ty);
        let mut q = vec![0u8; vt.row_bytes(cols).unwrap()];
        quantize_row(vt, x, &mut q).unwrap();
        let xf = dequant(vt, &q, cols);
        if vt == GgmlType::Q8_1 {
            // w = d*q + m: Σ w x = Σ (d q) x + m * s per block.
            let mut total = 0f64;
            let mut scale = 0f64;
            let m_off = 2;
            let wb = ty.type_size();
            for (b, (wblock, xblock)) in wf.chunks_mut(32).zip(xf.chunks(32)).enumerate() {
                let m = f64::from(edgelm_kernels::quant::float::read_f16(
                    w_row,
                    b * wb + m_off,
                ));
                let s = f64::from(edgelm_kernels::quant::float::read_f16(&q, b * 36 + 2));
                for (wv, xv) in wblock.iter_mut().zip(xblock) {
                    scale += (*wv * xv).abs();
                    total += (*wv - m) * xv;
                }
                total += m * s;
            }
            return (total, scale);
        }
        xf
    } else {
        x.iter().map(|&v| f64::from(v)).collect()
    };
    wf.iter_mut().zip(&xf).for_each(|(w, x)| *w *= x);
    (wf.iter().sum(), wf.iter().map(|v| v.abs()).sum())
}

fn run(threads: usize, w: &Weights, x: &[f32], n: usize, p: Precision) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut out = vec![f32::NAN; n * w.rows];
    pool.install(|| matmul(w, x, n, &mut out, p));
    out
}

fn run_pool(pool: &ThreadPool, w: &Weights, x: &[f32], n: usize, p: Precision) -> Vec<f32> {
    let mut out = vec![f32::NAN; n * w.rows];
    matmul_in(pool, w, x, n, &mut out, p);
    out
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Relative tolerance of Fast against Precise, from the activation format.
fn fast_vs_precise_tol(ty: GgmlType) -> f64 {
    match vec_dot_type(ty) {
        GgmlType::F32 => 1e-5,
        GgmlType::F16 => 2e-3,
        GgmlType::BF16 => 1e-2,
        _ => 2e-2, // 8-bit activations: half a step is 1/254 of a block's max
    }
}

#[test]
fn required_types_have_integer_dot_kernels() {
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        assert!(has_vec_dot(ty), "{ty}");
    }
}

#[test]
fn matmul_all_types_against_f64_reference() {
    let mut rng = Rng(0x5eed);
    let shapes = [
        (1, 256, 1),
        (17, 256, 7),
        (130, 512, 1),
        (67, 256, 7),
        (300, 256, 2),
    ];
    let small_blocks = [(13, 96, 3), (65, 32, 1), (200, 64, 19)];
    let pools: Vec<ThreadPool> = [1, 2, 3, 5]
        .into_iter()
        .map(|t| ThreadPool::new(t).unwrap())
        .collect();
    for ty in GgmlType::ALL {
        let extra: &[(usize, usize, usize)] = if ty.block_size() <= 32 {
            &small_blocks
        } else {
            &[]
        };
        for &(rows, cols, n) in shapes.iter().chain(extra) {
            let data = make_weights(&mut rng, ty, rows, cols);
            let w = Weights::rows(ty, rows, cols, &data);
            let x: Vec<f32> = (0..n * cols).map(|_| rng.f32() * 2.0).collect();
            let fast = run(1, &w, &x, n, Precision::Fast);
            let precise = run(1, &w, &x, n, Precision::Precise);
            for threads in [2, 5] {
                for (p, want) in [(Precision::Fast, &fast), (Precision::Precise, &precise)] {
                    let got = run(threads, &w, &x, n, p);
                    assert!(
                        same_bits(&got, want),
                        "{ty} {rows}x{cols} n={n} {p:?}: {threads} threads differ from 1"
                    );
                }
            }
            for pool in &pools {
                for (p, want) in [(Precision::Fast, &fast), (Precision::Precise, &precise)] {
                    let got = run_pool(pool, &w, &x, n, p);
                    assert!(
                        same_bits(&got, want),
                        "{ty} {rows}x{cols} n={n} {p:?}: pool of {} differs from rayon",
                        pool.threads()
                    );
                }
            }
            let rb = ty.row_bytes(cols).unwrap();
            for t in 0..n {
                let xt = &x[t * cols..(t + 1) * cols];
                for r in 0..rows {
                    let wr = &data[r * rb..(r + 1) * rb];
                    let (f_ref, scale) = reference(ty, wr, xt, true);
                    let (p_ref, _) = reference(ty, wr, xt, false);
                    let (f, p) = (fast[t * rows + r] as f64, precise[t * rows + r] as f64);
                    let tiny = 1e-30;
                    assert!(
                        (f - f_ref).abs() <= 1e-4 * scale + tiny,
                        "{ty} {rows}x{cols} n={n} t={t} r={r}: fast {f} ref {f_ref} scale {scale}"
                    );
                    assert!(
                        (p - p_ref).abs() <= 1e-5 * scale + tiny,
                        "{ty} {rows}x{cols} n={n} t={t} r={r}: precise {p} ref {p_ref}"
                    );
                    assert!(
                        (f - p).abs() <= fast_vs_precise_tol(ty) * scale + tiny,
                        "{ty} {rows}x{cols} n={n} t={t} r={r}: fast {f} precise {p} scale {scale}"
                    );
                }
            }
        }
    }
}

/// Products of mixed types (different activation formats, one without an integer
/// kernel on some CPUs) fused in one `matmul_batch` give what each gives alone.
#[test]
fn fused_products_equal_separate_ones() {
    let mut rng = Rng(0xba7c4);
    let cols = 256;
    let types = [
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::Q4_1,
        GgmlType::Q6_K,
        GgmlType::F16,
        GgmlType::Q4_0,
    ];
    let rows = [40, 7, 129, 33, 16, 1];
    let data: Vec<Vec<u8>> = types
        .iter()
        .zip(rows)
        .map(|(&ty, r)| make_weights(&mut rng, ty, r, cols))
        .collect();
    let ws: Vec<Weights> = types
        .iter()
        .zip(rows)
        .zip(&data)
        .map(|((&ty, rows), d)| Weights::rows(ty, rows, cols, d))
        .collect();
    for n in [1, 3, 17] {
        let x: Vec<f32> = (0..n * cols).map(|_| rng.f32()).collect();
        for p in [Precision::Fast, Precision::Precise] {
            let want: Vec<Vec<f32>> = ws.iter().map(|w| run(1, w, &x, n, p)).collect();
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads).unwrap();
                let mut outs: Vec<Vec<f32>> =
                    ws.iter().map(|w| vec![f32::NAN; n * w.rows]).collect();
                let mut products: Vec<(Weights, &mut [f32])> = ws
                    .iter()
                    .copied()
                    .zip(outs.iter_mut().map(|o| &mut o[..]))
                    .collect();
                matmul_batch(&pool, &x, n, &mut products, p);
                for (i, (got, want)) in outs.iter().zip(&want).enumerate() {
                    assert!(
                        same_bits(got, want),
                        "product {i} ({}) n={n} {p:?} {threads} threads",
                        types[i]
                    );
                }
            }
        }
    }
}

#[test]
fn matmul_with_no_columns_or_tokens() {
    let w = Weights::rows(GgmlType::Q4_0, 3, 0, &[]);
    let mut out = vec![1f32; 6];
    matmul(&w, &[], 2, &mut out, Precision::Fast);
    assert_eq!(out, vec![0.0; 6]);
    let data = vec![0u8; 3 * 18];
    let w = Weights::rows(GgmlType::Q4_0, 3, 32, &data);
    matmul(&w, &[], 0, &mut [], Precision::Precise);
}
