//! Every CUDA kernel against the CPU scalar reference, on random data and awkward
//! shapes (1 row, rows not a multiple of the warps per block, token counts not a
//! multiple of the tile). Without a GPU each test prints why it skipped; with
//! EDGELM_REQUIRE_GPU=1 (on the GPU machine) a skip is a failure.
#![cfg(feature = "cuda")]

use edgelm_kernels::cpu::attention::{attend_group, attend_scratch_len, KvHead, KvRows};
use edgelm_kernels::cpu::ops::{rms_norm, rope, swiglu, RopeAngles, RopeStyle};
use edgelm_kernels::cuda::{AttentionShape, Gpu, RopeShape, GPU_TYPES};
use edgelm_kernels::quant::float::f32_to_f16;
use edgelm_kernels::quant::{dequantize_row, quantize_row, GgmlType};

fn gpu() -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            let msg = format!("skipped: no usable GPU: {e}");
            assert!(
                std::env::var("EDGELM_REQUIRE_GPU").as_deref() != Ok("1"),
                "{msg}"
            );
            eprintln!("{msg}");
            None
        }
    }
}

/// Deterministic values in about [-1, 1].
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn matmul_and_embed_match_dequantized_reference() {
    let Some(g) = gpu() else { return };
    // Q3_K has no kernel: it is dequantized to f32 on upload.
    let types = GPU_TYPES.iter().copied().chain([GgmlType::Q3_K]);
    for ty in types {
        let shapes: &[(usize, usize, usize)] = if ty.block_size() == 256 {
            &[(1, 256, 1), (37, 512, 3), (130, 768, 9), (5, 256, 17)]
        } else {
            &[(1, 32, 1), (37, 96, 3), (130, 576, 9), (5, 1536, 17)]
        };
        for &(rows, cols, n) in shapes {
            let wf = random(rows * cols, (rows * 31 + cols) as u64);
            let rb = ty.row_bytes(cols).unwrap();
            let mut wq = vec![0u8; rows * rb];
            for (src, dst) in wf.chunks_exact(cols).zip(wq.chunks_exact_mut(rb)) {
                quantize_row(ty, src, dst).unwrap();
            }
            let mut wd = vec![0f32; rows * cols];
            for (src, dst) in wq.chunks_exact(rb).zip(wd.chunks_exact_mut(cols)) {
                dequantize_row(ty, src, dst);
            }
            let x = random(n * cols, 7 + n as u64);
            let want: Vec<f32> = (0..n)
                .flat_map(|t| {
                    let (x, wd) = (&x, &wd);
                    (0..rows).map(move |r| {
                        (0..cols)
                            .map(|i| wd[r * cols + i] as f64 * x[t * cols + i] as f64)
                            .sum::<f64>() as f32
                    })
                })
                .collect();
            let w = g.upload_matrix(ty, rows, cols, &wq).unwrap();
            let xd = g.upload(&x).unwrap();
            let mut yd = g.zeros::<f32>(n * rows).unwrap();
            g.matmul(&w, &xd.as_view(), n, &mut yd.as_view_mut())
                .unwrap();
            let got = g.download(&yd.as_view()).unwrap();
            let tol = 1e-4 * (cols as f32).sqrt();
            let d = max_abs_diff(&got[..n * rows], &want);
            assert!(
                d <= tol,
                "{ty} matmul {rows}x{cols} n={n}: max diff {d} > {tol}"
            );

            // Embedding rows: the dequantization (up to a fused multiply-add).
            let ids: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % rows as u32).collect();
            let mut ids_d = g.zeros::<u32>(n).unwrap();
            let mut out = g.zeros::<f32>(n * cols).unwrap();
            g.embed(&w, &ids, &mut ids_d, &mut out.as_view_mut())
                .unwrap();
            let got = g.download(&out.as_view()).unwrap();
            for (t, &id) in ids.iter().enumerate() {
                let want = &wd[id as usize * cols..][..cols];
                let d = max_abs_diff(&got[t * cols..][..cols], want);
                assert!(d <= 1e-6, "{ty} embed row {id}: max diff {d}");
            }
        }
    }
}

#[test]
fn embed_rejects_ids_outside_the_matrix() {
    let Some(g) = gpu() else { return };
    let w = g
        .upload_matrix(GgmlType::F32, 2, 32, &[0u8; 2 * 32 * 4])
        .unwrap();
    let mut ids_d = g.zeros::<u32>(1).unwrap();
    let mut out = g.zeros::<f32>(32).unwrap();
    assert!(g
        .embed(&w, &[2], &mut ids_d, &mut out.as_view_mut())
        .is_err());
}

#[test]
fn norm_swiglu_add_match_cpu() {
    let Some(g) = gpu() else { return };
    for (n, d) in [(1usize, 32usize), (3, 576), (5, 2048), (2, 100)] {
        let x = random(n * d, d as u64);
        let w = random(d, 3);
        let mut want = vec![0f32; n * d];
        for (xr, o) in x.chunks_exact(d).zip(want.chunks_exact_mut(d)) {
            rms_norm(xr, &w, 1e-5, o);
        }
        let (xd, wd) = (g.upload(&x).unwrap(), g.upload(&w).unwrap());
        let mut od = g.zeros::<f32>(n * d).unwrap();
        g.rms_norm(&xd.as_view(), &wd, 1e-5, n, &mut od.as_view_mut())
            .unwrap();
        let got = g.download(&od.as_view()).unwrap();
        assert!(max_abs_diff(&got, &want) <= 1e-5, "rms_norm {n}x{d}");

        let up = random(n * d, 11);
        let mut want = x.clone();
        swiglu(&mut want, &up);
        let mut gd = g.upload(&x).unwrap();
        let ud = g.upload(&up).unwrap();
        g.swiglu(&mut gd.as_view_mut(), &ud.as_view(), n * d)
            .unwrap();
        let got = g.download(&gd.as_view()).unwrap();
        assert!(max_abs_diff(&got, &want) <= 1e-6, "swiglu {n}x{d}");

        // Bias add (one row repeated) and residual add.
        let mut want = x.clone();
        for (i, v) in want.iter_mut().enumerate() {
            *v += w[i % d] + up[i];
        }
        let mut xd = g.upload(&x).unwrap();
        g.add_rows(&mut xd.as_view_mut(), &wd.as_view(), n * d)
            .unwrap();
        g.add_rows(&mut xd.as_view_mut(), &ud.as_view(), n * d)
            .unwrap();
        let got = g.download(&xd.as_view()).unwrap();
        assert!(max_abs_diff(&got, &want) <= 1e-6, "add {n}x{d}");
    }
}

#[test]
fn rope_matches_cpu_in_both_styles() {
    let Some(g) = gpu() else { return };
    for (style, neox) in [(RopeStyle::Interleaved, false), (RopeStyle::Neox, true)] {
        for (n, heads, hd, n_rot, pos0, factors) in [
            (1usize, 9usize, 64usize, 64usize, 0usize, false),
            (5, 3, 64, 32, 17, false),
            (3, 4, 128, 128, 1000, true),
        ] {
            let x = random(n * heads * hd, (n + heads) as u64);
            let f: Vec<f32> = (0..n_rot / 2).map(|i| 1.0 + i as f32 / 8.0).collect();
            let fo = factors.then_some(&f[..]);
            let mut want = x.clone();
            for t in 0..n {
                let a = RopeAngles::new(pos0 + t, n_rot, 10000.0, fo);
                rope(&mut want[t * heads * hd..][..heads * hd], hd, &a, style);
            }
            let mut xd = g.upload(&x).unwrap();
            let fd = g.upload(&f).unwrap();
            let shape = RopeShape {
                n,
                n_heads: heads,
                head_dim: hd,
                n_rot,
                pos0,
                base: 10000.0,
                neox,
            };
            g.rope(&mut xd.as_view_mut(), factors.then_some(&fd), shape)
                .unwrap();
            let got = g.download(&xd.as_view()).unwrap();
            // GPU and CPU sin/cos of large angles agree to a few ulp of the angle.
            let d = max_abs_diff(&got, &want);
            assert!(d <= 2e-4, "{style:?} rope n={n} pos0={pos0}: max diff {d}");
        }
    }
}

#[test]
fn kv_store_and_attention_match_cpu() {
    let Some(g) = gpu() else { return };
    // (n_head, n_head_kv, head_dim, pos0, n, n_ctx)
    for (nh, nkv, hd, pos0, n, n_ctx) in [
        (9usize, 3usize, 64usize, 0usize, 1usize, 8usize),
        (9, 3, 64, 0, 7, 16),
        (4, 4, 32, 20, 1, 32),
        (4, 2, 16, 3, 5, 8),
        (3, 1, 80, 9, 2, 16),
        (8, 2, 128, 5, 11, 40),
        (2, 1, 256, 300, 3, 400),
    ] {
        let row = nkv * hd;
        let qd = nh * hd;
        // History before pos0 written straight into the caches; the new n rows via kv_store.
        let hist_k = random(pos0 * row, 5);
        let hist_v = random(pos0 * row, 6);
        let new_k = random(n * row, 7);
        let new_v = random(n * row, 8);
        let q = random(n * qd, 9);
        let mut kc_h = vec![0u16; n_ctx * row];
        let mut vc_h = vec![0u16; n_ctx * row];
        for (i, (&k, &v)) in hist_k.iter().zip(&hist_v).enumerate() {
            kc_h[i] = f32_to_f16(k);
            vc_h[i] = f32_to_f16(v);
        }
        let mut kc = g.upload(&kc_h).unwrap();
        let mut vc = g.upload(&vc_h).unwrap();
        let (kd, vd) = (g.upload(&new_k).unwrap(), g.upload(&new_v).unwrap());
        g.kv_store(
            &kd.as_view(),
            &vd.as_view(),
            &mut kc.as_view_mut(),
            &mut vc.as_view_mut(),
            n,
            row,
            pos0,
        )
        .unwrap();
        for (i, (&k, &v)) in new_k.iter().zip(&new_v).enumerate() {
            kc_h[pos0 * row + i] = f32_to_f16(k);
            vc_h[pos0 * row + i] = f32_to_f16(v);
        }
        assert_eq!(g.download(&kc.as_view()).unwrap(), kc_h, "kv_store keys");
        assert_eq!(g.download(&vc.as_view()).unwrap(), vc_h, "kv_store values");

        let scale = 1.0 / (hd as f32).sqrt();
        let group = nh / nkv;
        let mut want = vec![0f32; n * qd];
        for t in 0..n {
            for kvh in 0..nkv {
                let head = KvHead {
                    stride: row,
                    offset: kvh * hd,
                    head_dim: hd,
                    span: pos0 + t + 1,
                    window: usize::MAX,
                    softcap: None,
                };
                let mut scratch = vec![0f32; attend_scratch_len(1, group, &head)];
                let at = t * qd + kvh * group * hd;
                attend_group(
                    &q[at..at + group * hd],
                    1,
                    group,
                    KvRows::F16(&kc_h),
                    KvRows::F16(&vc_h),
                    &head,
                    scale,
                    &mut scratch,
                    &mut want[at..at + group * hd],
                );
            }
        }
        let qdv = g.upload(&q).unwrap();
        let mut out = g.zeros::<f32>(n * qd).unwrap();
        let shape = AttentionShape {
            n,
            n_head: nh,
            n_head_kv: nkv,
            head_dim: hd,
            pos0,
            scale,
        };
        g.attention(
            &qdv.as_view(),
            &kc.as_view(),
            &vc.as_view(),
            &mut out.as_view_mut(),
            shape,
        )
        .unwrap();
        let got = g.download(&out.as_view()).unwrap();
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-4, "attention {shape:?}: max diff {d}");
    }
}
