//! Every aarch64 kernel against its scalar twin, on random rows of awkward lengths.
//! The NEON and the SDOT kernels are both checked directly (not only the ones
//! `upgrade` leaves installed), the SDOT ones where the CPU has dotprod. The
//! activation quantizers are checked against the reference ones, byte for byte.

use super::*;
use crate::cpu::dispatch::QuantizeFn;
use crate::cpu::test_data::{half_step_blocks, Rng};
use crate::cpu::{scalar, vec_dot_type};
use crate::quant::float::{f32_to_f16, read_f16};
use crate::quant::{dequantize_row, quantize_row};

/// `n` values in runs of 32, each run of a different kind: plain, large, all zero,
/// tiny, or shifted to one sign (so minimum-based formats carry a real offset).
fn values(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let kind = rng.next() % 6;
        for _ in 0..32.min(n - v.len()) {
            let u = rng.unit();
            v.push(match kind {
                0 | 1 => u,
                2 => 50.0 * u,
                3 => 0.0,
                4 => 1e-3 * u,
                _ => 3.0 + u,
            });
        }
    }
    v
}

/// Byte offsets of the f16 scale fields inside one block of `ty`.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[crate::quant::q6_k::D],
        _ => &[],
    }
}

/// A weight row of `ty`: quantized from [`values`], or (`raw`) random bytes whose
/// f16 scales are then set to modest random values, so every pattern of the packed
/// quants, scales and signs occurs, including ones the quantizers never write.
fn weights(ty: GgmlType, n: usize, raw: bool, rng: &mut Rng) -> Vec<u8> {
    let mut w = vec![0u8; ty.row_bytes(n).unwrap()];
    if !raw {
        quantize_row(ty, &values(n, rng), &mut w).unwrap();
        return w;
    }
    w.iter_mut().for_each(|b| *b = rng.next() as u8);
    let block = ty.row_bytes(ty.block_size()).unwrap();
    for b in w.chunks_exact_mut(block) {
        for &off in f16_fields(ty) {
            let s = f32_to_f16(0.01 * rng.unit());
            b[off..off + 2].copy_from_slice(&s.to_le_bytes());
        }
    }
    w
}

/// A bound on |scalar - simd| for legacy/float rows: both sum the same terms in
/// different f32 orders, so the error is a few ulps of `Σ |w_i x_i|` plus, for the
/// formats with a minimum `m`, of `Σ |m x_i|` (`m` cancels against `d q`).
fn tolerance(ty: GgmlType, w: &[u8], x: &[u8], n: usize) -> f32 {
    let (mut wf, mut xf) = (vec![0f32; n], vec![0f32; n]);
    dequantize_row(ty, w, &mut wf);
    dequantize_row(vec_dot_type(ty), x, &mut xf);
    let block = ty.block_size();
    let block_bytes = ty.row_bytes(block).unwrap();
    let mut mag = 0f32;
    for (i, (a, b)) in wf.iter().zip(&xf).enumerate() {
        let m = match ty {
            GgmlType::Q4_1 | GgmlType::Q5_1 => read_f16(w, (i / block) * block_bytes + 2).abs(),
            _ => 0.0,
        };
        mag += (a.abs() + 2.0 * m) * b.abs();
    }
    2e-5 * mag
}

/// Checks `f` against the scalar kernel for `ty` on quantized and raw rows.
fn check(ty: GgmlType, f: VecDotFn, label: &str) {
    let reference = scalar::kernels().vec_dot(ty).unwrap();
    // The float rows sum in another order; the block formats follow scalar's exactly.
    let exact = ty.block_size() > 1;
    let block = ty.block_size();
    let lengths: &[usize] = match block {
        1 => &[1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 577, 1000],
        32 => &[32, 64, 96, 160, 224, 544, 1280],
        _ => &[256, 512, 768, 1280],
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ty.id() as u64);
    for &n in lengths {
        for raw in [false, true] {
            if raw && block == 1 {
                continue;
            }
            let w = weights(ty, n, raw, &mut rng);
            let vt = vec_dot_type(ty);
            let mut x = vec![0u8; vt.row_bytes(n).unwrap()];
            quantize_row(vt, &values(n, &mut rng), &mut x).unwrap();
            let (want, got) = (reference(&w, &x), f(&w, &x));
            let what = format!("{label} {ty} n={n} raw={raw}: scalar {want} simd {got}");
            if exact {
                assert_eq!(want.to_bits(), got.to_bits(), "{what}");
            } else {
                assert!((want - got).abs() <= tolerance(ty, &w, &x, n), "{what}");
            }
        }
    }
}

#[test]
fn neon_kernels_match_scalar() {
    for (ty, f) in neon_kernels() {
        check(ty, f, "neon");
    }
}

#[test]
fn dotprod_kernels_match_scalar() {
    if !has_dotprod() {
        eprintln!("skipping: this CPU has no dotprod");
        return;
    }
    for (ty, f) in dotprod_kernels() {
        check(ty, f, "dotprod");
    }
}

#[test]
fn neon_dot_f32_matches_scalar() {
    let mut rng = Rng(7);
    for n in [0usize, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 576, 1000] {
        let (a, b) = (values(n, &mut rng), values(n, &mut rng));
        let (want, got) = (scalar::dot_f32(&a, &b), neon::dot_f32(&a, &b));
        let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
        assert!(
            (want - got).abs() <= 2e-5 * mag,
            "n={n}: scalar {want} neon {got}"
        );
    }
    // Unequal lengths: both use the common prefix.
    let (a, b) = (values(40, &mut rng), values(37, &mut rng));
    let (want, got) = (scalar::dot_f32(&a, &b), neon::dot_f32(&a, &b));
    assert!((want - got).abs() <= 1e-5 * want.abs().max(1.0));
}

/// The run-time choice follows the CPU. `targets/scripts/test-aarch64.sh` sets
/// `EDGELM_EXPECT_DOTPROD` per emulated CPU, so a runner that silently lost (or
/// gained) dotprod fails here instead of skipping the SDOT tests.
#[test]
fn dispatch_follows_cpu_features() {
    match std::env::var("EDGELM_EXPECT_DOTPROD").as_deref() {
        Ok("1") => assert!(has_dotprod(), "expected a CPU with dotprod"),
        Ok("0") => assert!(!has_dotprod(), "expected a CPU without dotprod"),
        _ => {}
    }
    let want = if has_dotprod() {
        "neon+dotprod"
    } else {
        "neon"
    };
    assert_eq!(crate::cpu::kernel_set(), want);
    let mut k = scalar::kernels();
    upgrade(&mut k, detected_level());
    let installed = if has_dotprod() {
        dotprod_kernels().to_vec()
    } else {
        neon_kernels().to_vec()
    };
    for (ty, f) in installed {
        assert_eq!(k.vec_dot(ty).map(|g| g as usize), Some(f as usize), "{ty}");
    }
}

/// Blocks of 32 where the quantizers' corner cases show: every half step of a scale
/// of exactly 1 or 1/2 and its neighbours (`v * id` on and next to .5, where the
/// rounding direction shows), ±0, huge and infinite values, scales so small that
/// their inverse is infinite, subnormals and NaNs at the start, middle and end.
fn quantizer_blocks(rng: &mut Rng) -> Vec<f32> {
    let mut blocks = half_step_blocks(31);
    let nan = f32::NAN;
    let special: [&[f32]; 10] = [
        &[0.0],
        &[-0.0, 0.0],
        &[f32::MAX, -f32::MAX, 3e38, 1.0, -1e-3],
        &[f32::INFINITY, 1.0, -2.0, 0.0],
        &[f32::NEG_INFINITY, 5.0, f32::INFINITY],
        &[1e-38, -1e-38, 5e-39, 0.0, -0.0],
        &[1e-45, -1e-45, 0.0, 3e-45],
        &[nan, 1.0, -3.0, 0.5],
        &[1.0, -3.0, nan, 0.5, 2.0],
        &[-nan, 7.0, 1.0, nan],
    ];
    for s in special {
        blocks.push(s.iter().copied().cycle().take(32).collect());
    }
    // Random multiples of half a random scale: ties after scaling, up to the
    // rounding of `v * id`.
    for _ in 0..8 {
        let d = 10f32.powi((rng.next() % 9) as i32 - 4) * (1.0 + rng.unit().abs());
        let mut b: Vec<f32> = (0..32)
            .map(|_| (rng.next() % 255) as f32 * 0.5 * d - 63.5 * d)
            .collect();
        b[(rng.next() % 32) as usize] = 127.0 * d;
        blocks.push(b);
    }
    blocks.concat()
}

/// Checks an activation quantizer against the reference, byte for byte.
fn check_quantizer(ty: GgmlType, f: QuantizeFn, label: &str) {
    let mut rng = Rng(0x51_7cc1_b727_220a ^ ty.id() as u64);
    let mut rows: Vec<Vec<f32>> = [32, 64, 96, 160, 576, 2048]
        .iter()
        .map(|&n| values(n, &mut rng))
        .collect();
    rows.push(vec![0.0; 96]);
    rows.push(rng.vec(256, 3e37));
    rows.push(rng.vec(256, 1e-30));
    let special = quantizer_blocks(&mut rng);
    rows.push(special.clone());
    // The same blocks in another order, so each also sits in other row positions.
    let mut blocks: Vec<&[f32]> = special.chunks(32).collect();
    blocks.reverse();
    rows.push(blocks.concat());
    for (i, row) in rows.iter().enumerate() {
        let mut want = vec![0u8; ty.row_bytes(row.len()).unwrap()];
        let mut got = vec![0xa5u8; want.len()];
        quantize_row(ty, row, &mut want).unwrap();
        f(row, &mut got);
        if let Some(j) = got.iter().zip(&want).position(|(a, b)| a != b) {
            let blk = j / ty.row_bytes(32).unwrap();
            panic!(
                "{label} {ty} row {i} byte {j}: {} vs reference {}; block values {:?}",
                got[j],
                want[j],
                &row[32 * blk..32 * blk + 32]
            );
        }
    }
}

/// The FCVT scale conversion against `half`'s (the reference quantizers'): f32 bit
/// patterns 4097 apart (every exponent, both signs, NaNs and infinities, assorted
/// rounding bits), the halfway cases around normal f16 steps, and the edges of
/// overflow and of the subnormals.
#[test]
fn neon_f32_to_f16_matches_reference() {
    let check = |bits: u32| {
        let x = f32::from_bits(bits);
        let (got, want) = (quantize::f32_to_f16(x), f32_to_f16(x));
        assert_eq!(got, want, "{x:e} ({bits:#010x}): {got:#06x} vs {want:#06x}");
    };
    (0..=u32::MAX).step_by(4097).for_each(check);
    for top in (0..=u32::MAX >> 13).step_by(61) {
        for low in [0x0fff, 0x1000, 0x1001] {
            check(top << 13 | low);
        }
    }
    for x in [
        65504.0f32,
        65519.996,
        65520.0,
        2.0f32.powi(-25),
        1.5 * 2.0f32.powi(-24),
    ] {
        for v in [x, x.next_up(), x.next_down()] {
            check(v.to_bits());
            check((-v).to_bits());
        }
    }
}

#[test]
fn neon_quantizers_match_reference() {
    check_quantizer(GgmlType::Q8_0, quantize::quantize_q8_0, "neon");
    check_quantizer(GgmlType::Q8_1, quantize::quantize_q8_1, "neon");
    // Installed at every NEON level.
    for level in 1..=detected_level() {
        let mut k = scalar::kernels();
        upgrade(&mut k, level);
        for (ty, f) in [
            (GgmlType::Q8_0, quantize::quantize_q8_0 as QuantizeFn),
            (GgmlType::Q8_1, quantize::quantize_q8_1),
        ] {
            let got = k.quantize(ty).map(|g| g as usize);
            assert_eq!(got, Some(f as usize), "{ty} at level {level}");
        }
    }
}
