//! Every x86 kernel against its scalar twin on random rows of awkward lengths.

use super::super::scalar;
use super::*;
use crate::cpu::test_data::{half_step_blocks, values};
use crate::cpu::vec_dot_type;
use crate::quant::quantize_row;

fn quantized(ty: GgmlType, v: &[f32]) -> Vec<u8> {
    let mut b = vec![0u8; ty.row_bytes(v.len()).unwrap()];
    quantize_row(ty, v, &mut b).unwrap();
    b
}

/// Compares `fast` with `slow` for `ty` on rows of `blocks` blocks of the weight type
/// (elements for F16): random, all-zero and large-valued rows. The tolerance scales
/// with the sum of the per-block magnitudes, which bounds the rounding of either
/// summation order.
fn check(ty: GgmlType, slow: VecDotFn, fast: VecDotFn, set: &str) {
    let bs = ty.block_size();
    let vt = vec_dot_type(ty);
    let lengths: &[usize] = if ty == GgmlType::F16 {
        &[1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 576, 1000]
    } else {
        &[1, 2, 3, 4, 5, 7, 8, 9, 18, 40]
    };
    for &blocks in lengths {
        let n = blocks * bs;
        for (case, gain) in [("random", 1.0f32), ("zero", 0.0), ("large", 20.0)] {
            let seed = blocks as u64 * 7 + gain as u64;
            let w = quantized(ty, &values(n, 3 + seed, gain));
            let x = quantized(vt, &values(n, 99 + seed, gain.max(0.5)));
            let (want, got) = (slow(&w, &x), fast(&w, &x));
            let (wb, xb) = (ty.row_bytes(bs).unwrap(), vt.row_bytes(bs).unwrap());
            let magnitude: f32 = w
                .chunks_exact(wb)
                .zip(x.chunks_exact(xb))
                .map(|(a, b)| slow(a, b).abs())
                .sum();
            assert!(
                (want - got).abs() <= 2e-6 * magnitude * (blocks as f32).sqrt() + 1e-30,
                "{set} {ty} {case} x{blocks}: scalar {want} simd {got} (magnitude {magnitude})"
            );
            if case == "zero" {
                assert_eq!(got, 0.0, "{set} {ty} zero x{blocks}");
            }
        }
    }
}

/// Checks every entry `set` changed from the scalar table.
fn check_set(set: &str, k: &Kernels) {
    let s = scalar::kernels();
    let mut checked = 0;
    for ty in GgmlType::ALL {
        let (Some(slow), Some(fast)) = (s.vec_dot(ty), k.vec_dot(ty)) else {
            continue;
        };
        if slow as usize != fast as usize {
            check(ty, slow, fast, set);
            checked += 1;
        }
    }
    assert!(checked > 0, "{set} replaced no kernel");
}

#[test]
fn avx2_kernels_match_scalar() {
    if !has_avx2() {
        eprintln!("skipping: this CPU has no AVX2+FMA+F16C");
        return;
    }
    let mut k = scalar::kernels();
    upgrade_avx2(&mut k);
    check_set("avx2", &k);
    for ty in [
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        let f = k.vec_dot(ty).unwrap() as usize;
        assert_ne!(f, scalar::kernels().vec_dot(ty).unwrap() as usize, "{ty}");
    }
}

/// The dot kernels the AVX2 tiles reproduce (for the 32-value formats the tiles'
/// `dot`, not `vec_dot`): within tolerance of scalar, and Q4_0's equal to the scalar
/// fused formula bit for bit.
#[test]
fn avx2_tile_dots_match_scalar() {
    if !has_avx2() {
        eprintln!("skipping: this CPU has no AVX2+FMA+F16C");
        return;
    }
    let mut k = scalar::kernels();
    upgrade_avx2(&mut k);
    let s = scalar::kernels();
    let mut checked = 0;
    for ty in GgmlType::ALL {
        let (Some(tk), Some(slow)) = (k.tile(ty), s.vec_dot(ty)) else {
            continue;
        };
        check(ty, slow, tk.dot, "avx2 tile dot");
        checked += 1;
    }
    assert_eq!(checked, 8);
    let fused = k.tile(GgmlType::Q4_0).unwrap().dot;
    for blocks in [1usize, 3, 18] {
        let n = 32 * blocks;
        let w = quantized(GgmlType::Q4_0, &values(n, 11 + blocks as u64, 1.0));
        let x = quantized(GgmlType::Q8_0, &values(n, 12 + blocks as u64, 3.0));
        let (want, got) = (scalar::vec_dot_q4_0_q8_0_fused(&w, &x), fused(&w, &x));
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "Q4_0 x{blocks}: {got} vs {want}"
        );
    }
}

#[test]
fn avx512_kernels_match_scalar() {
    if !(has_avx2() && avx512::detected()) {
        eprintln!("skipping: this CPU has no AVX-512 F/BW/VL/VNNI");
        return;
    }
    let mut avx2 = scalar::kernels();
    upgrade_avx2(&mut avx2);
    let mut k = scalar::kernels();
    upgrade(&mut k, detected_level());
    assert_eq!(k.name, "avx512vnni");
    let s = scalar::kernels();
    for ty in GgmlType::ALL {
        let (Some(slow), Some(fast)) = (s.vec_dot(ty), k.vec_dot(ty)) else {
            continue;
        };
        if fast as usize != avx2.vec_dot(ty).unwrap() as usize {
            check(ty, slow, fast, "avx512");
        }
    }
}

#[test]
fn dot_f32_matches_scalar() {
    if !has_avx2() {
        eprintln!("skipping: this CPU has no AVX2+FMA+F16C");
        return;
    }
    let mut k = scalar::kernels();
    upgrade(&mut k, detected_level());
    for n in [1usize, 7, 8, 15, 16, 17, 31, 32, 33, 100, 576] {
        let (p, q) = (values(n, 5, 1.0), values(n, 6, 1.0));
        let want = scalar::dot_f32(&p, &q);
        let got = (k.dot_f32)(&p, &q);
        let magnitude: f32 = p.iter().zip(&q).map(|(a, b)| (a * b).abs()).sum();
        assert!(
            (want - got).abs() <= 1e-6 * magnitude,
            "f32 x{n}: {want} vs {got}"
        );
    }
}

/// The whole-block scale decoders against the per-group ones in `quant`, on random
/// scale bytes (every bit pattern matters, not only what a quantizer writes).
#[test]
fn packed_scale_decoders_match_quant() {
    use crate::quant::{q3_k, q4_k};
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        let mut block = [0u8; q3_k::BLOCK_BYTES];
        for b in block.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *b = (s >> 32) as u8;
        }
        let packed = &block[..12];
        let sm = layout::scales_mins(packed);
        let sm: Vec<u8> = sm.iter().flat_map(|w| w.to_le_bytes()).collect();
        for g in 0..8 {
            assert_eq!(
                (sm[g], sm[8 + g]),
                q4_k::scale_min(packed, g),
                "q4_k group {g}"
            );
        }
        let sc = layout::q3k_scales_offset(&block[q3_k::SCALES..q3_k::SCALES + 12]);
        let sc: Vec<i8> = sc
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .map(|b| b as i8 - 32)
            .collect();
        assert_eq!(sc, q3_k::scales(&block), "q3_k scales");
    }
}

/// The activation quantizers against the reference ones, byte for byte: random rows,
/// rows whose scale is exactly 1 or 1/2 (so `v * id` lands on halves, where rounding
/// direction shows), zero rows and rows with huge and tiny values.
#[test]
fn activation_quantizers_match_reference() {
    if !has_avx2() {
        eprintln!("skipping: this CPU has no AVX2+FMA+F16C");
        return;
    }
    let mut k = scalar::kernels();
    upgrade(&mut k, detected_level());
    let mut rows: Vec<Vec<f32>> = (0..50u64)
        .map(|s| values(32 * 7, s, 1.0 + s as f32))
        .collect();
    rows.extend(half_step_blocks(30));
    rows.push(vec![0.0; 64]);
    rows.push(values(64, 9, 3e30));
    rows.push(values(64, 10, 1e-30));
    let mut checked = 0;
    for ty in [GgmlType::Q8_0, GgmlType::Q8_1] {
        let Some(fast) = k.quantize(ty) else { continue };
        checked += 1;
        for (i, row) in rows.iter().enumerate() {
            let mut want = vec![0u8; ty.row_bytes(row.len()).unwrap()];
            let mut got = want.clone();
            quantize_row(ty, row, &mut want).unwrap();
            fast(row, &mut got);
            if let Some(j) = got.iter().zip(&want).position(|(a, b)| a != b) {
                let bb = ty.row_bytes(32).unwrap();
                let blk = j / bb;
                panic!(
                    "{ty} row {i} byte {j}: {} vs reference {}; block values {:?}",
                    got[j],
                    want[j],
                    &row[32 * blk..32 * blk + 32]
                );
            }
        }
    }
    assert_eq!(checked, 2);
}
