//! Element-wise ops, scalar definition against the version `ops` dispatches to on this
//! CPU, at SmolLM2-135M sizes (hidden 576, FFN 1536, 9 heads of 64 for RoPE) and
//! softmax over 128 / 1024 / 4096 scores. Throughput is elements per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgelm_kernels::cpu::ops::{self, scalar, RopeAngles, RopeStyle};

/// Deterministic pseudo-random values in [-scale, scale).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            scale * ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        })
        .collect()
}

type InPlace = fn(&mut [f32]);

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ops");

    for n in [576usize, 1536] {
        let x = values(n, 1, 3.0);
        let w = values(n, 2, 1.0);
        let mut out = vec![0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        type Norm = fn(&[f32], &[f32], f32, &mut [f32]);
        for (name, f) in [
            ("scalar", scalar::rms_norm as Norm),
            ("dispatched", ops::rms_norm),
        ] {
            g.bench_with_input(
                BenchmarkId::new(format!("rms_norm/{name}"), n),
                &n,
                |b, _| b.iter(|| f(&x, &w, 1e-5, &mut out)),
            );
        }
    }

    for n in [576usize, 1536] {
        let gate = values(n, 3, 4.0);
        let up = values(n, 4, 2.0);
        let mut buf = gate.clone();
        g.throughput(Throughput::Elements(n as u64));
        type Glu = fn(&mut [f32], &[f32]);
        for (name, f) in [
            ("scalar", scalar::swiglu as Glu),
            ("dispatched", ops::swiglu),
        ] {
            g.bench_with_input(BenchmarkId::new(format!("swiglu/{name}"), n), &n, |b, _| {
                b.iter(|| {
                    buf.copy_from_slice(&gate);
                    f(&mut buf, &up)
                })
            });
        }
    }

    for n in [128usize, 1024, 4096] {
        let x = values(n, 5, 10.0);
        let mut buf = x.clone();
        g.throughput(Throughput::Elements(n as u64));
        for (name, f) in [
            ("scalar", scalar::softmax as InPlace),
            ("dispatched", ops::softmax),
        ] {
            g.bench_with_input(
                BenchmarkId::new(format!("softmax/{name}"), n),
                &n,
                |b, _| {
                    b.iter(|| {
                        buf.copy_from_slice(&x);
                        f(&mut buf)
                    })
                },
            );
        }
        for (name, f) in [("scalar", scalar::exp as InPlace), ("dispatched", ops::exp)] {
            g.bench_with_input(BenchmarkId::new(format!("exp/{name}"), n), &n, |b, _| {
                b.iter(|| {
                    buf.copy_from_slice(&x);
                    f(&mut buf)
                })
            });
        }
    }

    // SmolLM2: 9 query heads of 64, rotated at a mid-sequence position.
    let (heads, head_dim) = (9usize, 64usize);
    let angles = RopeAngles::new(100, head_dim, 10000.0, None);
    let x = values(heads * head_dim, 6, 2.0);
    let mut buf = x.clone();
    g.throughput(Throughput::Elements(x.len() as u64));
    type Rope = fn(&mut [f32], usize, &RopeAngles, RopeStyle);
    for style in [RopeStyle::Interleaved, RopeStyle::Neox] {
        for (name, f) in [("scalar", scalar::rope as Rope), ("dispatched", ops::rope)] {
            let id = BenchmarkId::new(format!("rope_{style:?}/{name}"), "9x64");
            g.bench_function(id, |b| {
                b.iter(|| {
                    buf.copy_from_slice(&x);
                    f(&mut buf, head_dim, &angles, style)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
