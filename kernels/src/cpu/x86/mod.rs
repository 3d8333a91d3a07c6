//! x86_64 kernels, installed by `dispatch` only when the CPU reports the features they
//! were compiled for. Each set fills just the table entries it accelerates; the rest
//! stay as the set below it left them (AVX2 over scalar, AVX-512 over AVX2).

#[macro_use]
mod macros;

mod avx2;
mod avx512;
mod layout;

use super::dispatch::{type_index, Kernels, PrepareFn, TileFn, TileKernel, VecDotFn};
use super::scalar;
use crate::quant::GgmlType;

/// Overlays the kernels of `dispatch::LEVELS` up to `level` on `k`; the caller caps
/// `level` at [`detected_level`].
pub(crate) fn upgrade(k: &mut Kernels, level: usize) {
    if level >= 1 {
        upgrade_avx2(k);
    }
    if level >= 2 {
        upgrade_avx512(k);
    }
}

/// 0 (scalar), 1 (AVX2) or 2 (AVX-512 with VNNI), as this CPU reports.
pub(crate) fn detected_level() -> usize {
    match (has_avx2(), avx512::detected()) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    }
}

/// True when the AVX2 set may be installed (every AVX2 CPU so far also has FMA and
/// F16C, but each is checked).
fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// The AVX2 element-wise ops when this CPU can run them (for tests and benchmarks of
/// a table `upgrade` may not leave installed).
#[cfg(test)]
pub(crate) fn avx2_ops() -> Option<super::dispatch::Ops> {
    has_avx2().then(avx2::ops_table)
}

fn install(k: &mut Kernels, entries: &[(GgmlType, VecDotFn)]) {
    for &(ty, f) in entries {
        k.vec_dot[type_index(ty)] = Some(f);
    }
}

/// Caller checked [`has_avx2`].
fn upgrade_avx2(k: &mut Kernels) {
    k.name = "avx2";
    k.dot_f32 = avx2::dot_f32;
    k.ops = avx2::ops_table();
    k.quantize[type_index(GgmlType::Q8_0)] = Some(avx2::quantize_q8_0);
    k.quantize[type_index(GgmlType::Q8_1)] = Some(avx2::quantize_q8_1);
    install(
        k,
        &[
            (GgmlType::F16, avx2::vec_dot_f16_f16),
            (GgmlType::Q4_0, avx2::vec_dot_q4_0_q8_0),
            (GgmlType::Q4_1, avx2::vec_dot_q4_1_q8_1),
            (GgmlType::Q5_0, avx2::vec_dot_q5_0_q8_0),
            (GgmlType::Q5_1, avx2::vec_dot_q5_1_q8_1),
            (GgmlType::Q8_0, avx2::vec_dot_q8_0_q8_0),
            (GgmlType::Q2_K, avx2::vec_dot_q2_k_q8_k),
            (GgmlType::Q3_K, avx2::vec_dot_q3_k_q8_k),
            (GgmlType::Q4_K, avx2::vec_dot_q4_k_q8_k),
            (GgmlType::Q5_K, avx2::vec_dot_q5_k_q8_k),
            (GgmlType::Q6_K, avx2::vec_dot_q6_k_q8_k),
        ],
    );
    // Each tile with the dot kernel it reproduces bit for bit (the block formula of
    // `avx2/fused.rs`).
    type Entry = (GgmlType, TileFn, PrepareFn, VecDotFn);
    let tiles: [Entry; 5] = [
        (
            GgmlType::Q4_0,
            avx2::tile_q4_0_q8_0,
            avx2::prepare_for_q4_0,
            avx2::fused_q4_0_q8_0,
        ),
        (
            GgmlType::Q4_1,
            avx2::tile_q4_1_q8_1,
            avx2::prepare_for_q4_q5_1,
            avx2::fused_q4_1_q8_1,
        ),
        (
            GgmlType::Q5_0,
            avx2::tile_q5_0_q8_0,
            avx2::prepare_for_q5_0,
            avx2::fused_q5_0_q8_0,
        ),
        (
            GgmlType::Q5_1,
            avx2::tile_q5_1_q8_1,
            avx2::prepare_for_q4_q5_1,
            avx2::fused_q5_1_q8_1,
        ),
        (
            GgmlType::Q8_0,
            avx2::tile_q8_0_q8_0,
            avx2::prepare_for_q8_0,
            avx2::fused_q8_0_q8_0,
        ),
    ];
    for (ty, tile, prepare, dot) in tiles {
        k.tile[type_index(ty)] = Some(TileKernel {
            tile,
            prepare: Some((prepare, avx2::PREPARED)),
            dot,
        });
    }
    // The K-quant tiles read the quantized activations and reproduce the installed
    // dot kernels.
    let k_tiles: [(GgmlType, TileFn, VecDotFn); 3] = [
        (
            GgmlType::Q4_K,
            avx2::tile_q4_k_q8_k,
            avx2::vec_dot_q4_k_q8_k,
        ),
        (
            GgmlType::Q5_K,
            avx2::tile_q5_k_q8_k,
            avx2::vec_dot_q5_k_q8_k,
        ),
        (
            GgmlType::Q6_K,
            avx2::tile_q6_k_q8_k,
            avx2::vec_dot_q6_k_q8_k,
        ),
    ];
    for (ty, tile, dot) in k_tiles {
        k.tile[type_index(ty)] = Some(TileKernel {
            tile,
            prepare: None,
            dot,
        });
    }
}

/// Caller checked [`has_avx2`] and [`avx512::detected`]: the AVX-512 kernels hand
/// their tails to the AVX2 ones.
fn upgrade_avx512(k: &mut Kernels) {
    k.name = "avx512vnni";
    install(
        k,
        &[
            (GgmlType::F16, avx512::vec_dot_f16_f16),
            (GgmlType::Q4_0, avx512::vec_dot_q4_0_q8_0),
            (GgmlType::Q4_1, avx512::vec_dot_q4_1_q8_1),
            (GgmlType::Q5_0, avx512::vec_dot_q5_0_q8_0),
            (GgmlType::Q5_1, avx512::vec_dot_q5_1_q8_1),
            (GgmlType::Q8_0, avx512::vec_dot_q8_0_q8_0),
            (GgmlType::Q4_K, avx512::vec_dot_q4_k_q8_k),
            (GgmlType::Q6_K, avx512::vec_dot_q6_k_q8_k),
        ],
    );
    use avx512::{PREPARED_Q4_0 as P4, PREPARED_Q8_0 as P0, PREPARED_Q8_1 as P1};
    // Each tile with the dot kernel it reproduces bit for bit.
    type Entry = (GgmlType, TileFn, Option<(PrepareFn, usize)>, VecDotFn);
    let tiles: [Entry; 7] = [
        (
            GgmlType::Q4_0,
            avx512::tile_q4_0_q8_0,
            Some((avx512::prepare_for_q4_0, P4)),
            scalar::vec_dot_q4_0_q8_0_fused,
        ),
        (
            GgmlType::Q5_0,
            avx512::tile_q5_0_q8_0,
            Some((avx512::prepare_for_q5_0, P0)),
            avx512::vec_dot_q5_0_q8_0,
        ),
        (
            GgmlType::Q8_0,
            avx512::tile_q8_0_q8_0,
            Some((avx512::prepare_for_q8_0, P0)),
            avx512::vec_dot_q8_0_q8_0,
        ),
        (
            GgmlType::Q4_1,
            avx512::tile_q4_1_q8_1,
            Some((avx512::prepare_for_q4_q5_1, P1)),
            avx512::vec_dot_q4_1_q8_1,
        ),
        (
            GgmlType::Q5_1,
            avx512::tile_q5_1_q8_1,
            Some((avx512::prepare_for_q4_q5_1, P1)),
            avx512::vec_dot_q5_1_q8_1,
        ),
        (
            GgmlType::Q4_K,
            avx512::tile_q4_k_q8_k,
            None,
            avx512::vec_dot_q4_k_q8_k,
        ),
        (
            GgmlType::Q6_K,
            avx512::tile_q6_k_q8_k,
            None,
            avx512::vec_dot_q6_k_q8_k,
        ),
    ];
    for (ty, tile, prepare, dot) in tiles {
        k.tile[type_index(ty)] = Some(TileKernel { tile, prepare, dot });
    }
}

#[cfg(test)]
mod tests;
