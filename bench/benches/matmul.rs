//! Matrix products per weight type at SmolLM2-135M and 7B-like shapes, for decode
//! (one token) and prefill (64 tokens). Throughput is weight bytes streamed per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgelm_kernels::cpu::{interleave, matmul, Precision, WeightLayout, Weights};
use edgelm_kernels::quant::{quantize_row, GgmlType};

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Weights of `ty`, quantized from random values by the reference quantizers.
fn weights(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let row_bytes = ty.row_bytes(cols).unwrap();
    let mut data = vec![0u8; rows * row_bytes];
    let x = values(cols, 7);
    for row in data.chunks_exact_mut(row_bytes) {
        quantize_row(ty, &x, row).expect("every benchmarked type has a quantizer");
    }
    data
}

fn bench(c: &mut Criterion) {
    let types = [
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
    ];
    // (name, rows, cols): SmolLM2 ffn_up and output; a 7B attention projection.
    let shapes = [
        ("smollm2_ffn_up", 1536, 576),
        ("smollm2_output", 49152, 576),
        ("7b_attn_q", 4096, 4096),
    ];
    for (shape, rows, cols) in shapes {
        let mut group = c.benchmark_group(format!("matmul/{shape}"));
        group.sample_size(10);
        for ty in types {
            if ty.row_bytes(cols).is_none() {
                continue;
            }
            let data = weights(ty, rows, cols);
            let w = Weights::rows(ty, rows, cols, &data);
            // Where this CPU's kernels read interleaved rows (Q4_0, Q4_1, Q5_0, Q8_0 on
            // ARM with dotprod), the runtime's layout too, beside the rows in place.
            let packed = interleave(&w);
            let layouts = std::iter::once((w, ""))
                .chain(packed.as_deref().map(|data| {
                    let w = Weights {
                        data,
                        layout: WeightLayout::Interleaved,
                        ..w
                    };
                    (w, "-interleaved")
                }))
                .collect::<Vec<_>>();
            for (w, tag) in layouts {
                for n in [1usize, 64] {
                    if rows * n > 4096 * 64 && n > 1 && shape == "smollm2_output" {
                        continue;
                    }
                    let x = values(n * cols, 11);
                    let mut out = vec![0f32; n * rows];
                    group.throughput(Throughput::Bytes((data.len() * n) as u64));
                    group.bench_with_input(
                        BenchmarkId::new(format!("{}{tag}", ty.name()), format!("n{n}")),
                        &n,
                        |b, &n| b.iter(|| matmul(&w, &x, n, &mut out, Precision::Fast)),
                    );
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
