//! x86_64 kernels, installed by `dispatch` only when the CPU reports the features they
//! were compiled for. Each fills just the table entries it accelerates; the rest stay
//! scalar.

mod avx2;

use super::dispatch::{type_index, Kernels};
use crate::quant::GgmlType;

/// Overlays the AVX2 kernels on `k` when this CPU has them.
pub(crate) fn upgrade(k: &mut Kernels) {
    if !has_avx2() {
        return;
    }
    k.name = "avx2";
    k.dot_f32 = avx2::dot_f32;
    for (ty, f) in [
        (
            GgmlType::Q4_0,
            avx2::vec_dot_q4_0_q8_0 as super::dispatch::VecDotFn,
        ),
        (GgmlType::Q4_1, avx2::vec_dot_q4_1_q8_1),
        (GgmlType::Q8_0, avx2::vec_dot_q8_0_q8_0),
    ] {
        k.vec_dot[type_index(ty)] = Some(f);
    }
}

/// True when [`upgrade`] installs the AVX2 kernels (every AVX2 CPU so far also has
/// FMA and F16C, but each is checked).
fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[cfg(test)]
mod tests {
    use super::super::dispatch::VecDotFn;
    use super::super::scalar;
    use super::*;
    use crate::cpu::vec_dot_type;
    use crate::quant::quantize_row;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                // Some blocks with large values, some all zero.
                match (i / 32) % 5 {
                    3 => v * 50.0,
                    4 => 0.0,
                    _ => v,
                }
            })
            .collect()
    }

    /// Every AVX2 kernel against its scalar twin, on lengths of 1 to 40 blocks.
    #[test]
    fn avx2_kernels_match_scalar() {
        if !has_avx2() {
            eprintln!("skipping: this CPU has no AVX2+FMA");
            return;
        }
        let s = scalar::kernels();
        let mut a = scalar::kernels();
        upgrade(&mut a);
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            let (fs, fa): (VecDotFn, VecDotFn) = (s.vec_dot(ty).unwrap(), a.vec_dot(ty).unwrap());
            for blocks in [1usize, 2, 3, 7, 18, 40] {
                let n = blocks * 32;
                let mut w = vec![0u8; ty.row_bytes(n).unwrap()];
                quantize_row(ty, &values(n, 3 + blocks as u64), &mut w).unwrap();
                let vt = vec_dot_type(ty);
                let mut x = vec![0u8; vt.row_bytes(n).unwrap()];
                quantize_row(vt, &values(n, 99 + blocks as u64), &mut x).unwrap();
                let (want, got) = (fs(&w, &x), fa(&w, &x));
                let scale = want.abs().max(1.0);
                assert!(
                    (want - got).abs() <= 1e-5 * scale * blocks as f32,
                    "{ty} x{blocks}: scalar {want} avx2 {got}"
                );
            }
        }
        for n in [1usize, 7, 8, 15, 16, 17, 100, 576] {
            let (p, q) = (values(n, 5), values(n, 6));
            let (want, got) = ((s.dot_f32)(&p, &q), (a.dot_f32)(&p, &q));
            assert!((want - got).abs() <= 1e-4 * want.abs().max(1.0), "f32 x{n}");
        }
    }
}
