//! aarch64 kernels. NEON is part of the aarch64 baseline, so its kernels are always
//! installed; where the CPU reports FEAT_DotProd the SDOT versions of the integer
//! kernels replace them. Entries not listed here (Q2_K, Q3_K, BF16) stay scalar.
//!
//! The block kernels (`legacy`, `kquants`) are written once, generic over the
//! integer dot step ([`neon::I8Dot`]), and instantiated by `neon` and `dotprod`.

mod dotprod;
mod interleaved;
mod kquants;
mod kv_quant;
mod legacy;
mod neon;
pub(crate) mod ops;
mod quantize;
#[cfg(test)]
mod tests;
mod tiles;

use super::dispatch::{
    type_index, InterleavedFn, InterleavedKernel, Kernels, PrepareFn, TileFn, TileKernel, VecDotFn,
};
use crate::quant::GgmlType;

/// The NEON table entries (F32 and F16 rows and the integer block kernels).
fn neon_kernels() -> [(GgmlType, VecDotFn); 10] {
    [
        (GgmlType::F32, neon::vec_dot_f32),
        (GgmlType::F16, neon::vec_dot_f16),
        (GgmlType::Q4_0, neon::vec_dot_q4_0_q8_0),
        (GgmlType::Q4_1, neon::vec_dot_q4_1_q8_1),
        (GgmlType::Q5_0, neon::vec_dot_q5_0_q8_0),
        (GgmlType::Q5_1, neon::vec_dot_q5_1_q8_1),
        (GgmlType::Q8_0, neon::vec_dot_q8_0_q8_0),
        (GgmlType::Q4_K, neon::vec_dot_q4_k_q8_k),
        (GgmlType::Q5_K, neon::vec_dot_q5_k_q8_k),
        (GgmlType::Q6_K, neon::vec_dot_q6_k_q8_k),
    ]
}

/// The SDOT table entries, valid only where [`has_dotprod`] holds.
fn dotprod_kernels() -> [(GgmlType, VecDotFn); 8] {
    [
        (GgmlType::Q4_0, dotprod::vec_dot_q4_0_q8_0),
        (GgmlType::Q4_1, dotprod::vec_dot_q4_1_q8_1),
        (GgmlType::Q5_0, dotprod::vec_dot_q5_0_q8_0),
        (GgmlType::Q5_1, dotprod::vec_dot_q5_1_q8_1),
        (GgmlType::Q8_0, dotprod::vec_dot_q8_0_q8_0),
        (GgmlType::Q4_K, dotprod::vec_dot_q4_k_q8_k),
        (GgmlType::Q5_K, dotprod::vec_dot_q5_k_q8_k),
        (GgmlType::Q6_K, dotprod::vec_dot_q6_k_q8_k),
    ]
}

/// 1 (NEON) or 2 (dotprod) of `dispatch::LEVELS`, as this CPU reports.
pub(crate) fn detected_level() -> usize {
    if has_dotprod() {
        2
    } else {
        1
    }
}

/// The NEON tiles, each with the NEON dot kernel it reproduces bit for bit.
fn neon_tiles() -> [(GgmlType, TileFn, VecDotFn); 4] {
    [
        (
            GgmlType::Q4_0,
            neon::tile_q4_0_q8_0,
            neon::vec_dot_q4_0_q8_0,
        ),
        (
            GgmlType::Q4_1,
            neon::tile_q4_1_q8_1,
            neon::vec_dot_q4_1_q8_1,
        ),
        (
            GgmlType::Q5_0,
            neon::tile_q5_0_q8_0,
            neon::vec_dot_q5_0_q8_0,
        ),
        (
            GgmlType::Q8_0,
            neon::tile_q8_0_q8_0,
            neon::vec_dot_q8_0_q8_0,
        ),
    ]
}

/// The SDOT tiles, valid only where [`has_dotprod`] holds.
fn dotprod_tiles() -> [(GgmlType, TileFn, VecDotFn); 4] {
    [
        (
            GgmlType::Q4_0,
            dotprod::tile_q4_0_q8_0,
            dotprod::vec_dot_q4_0_q8_0,
        ),
        (
            GgmlType::Q4_1,
            dotprod::tile_q4_1_q8_1,
            dotprod::vec_dot_q4_1_q8_1,
        ),
        (
            GgmlType::Q5_0,
            dotprod::tile_q5_0_q8_0,
            dotprod::vec_dot_q5_0_q8_0,
        ),
        (
            GgmlType::Q8_0,
            dotprod::tile_q8_0_q8_0,
            dotprod::vec_dot_q8_0_q8_0,
        ),
    ]
}

fn install_tiles(k: &mut Kernels, tiles: [(GgmlType, TileFn, VecDotFn); 4]) {
    for (ty, tile, dot) in tiles {
        k.tile[type_index(ty)] = Some(TileKernel {
            tile,
            prepare: None,
            dot,
        });
    }
}

/// Overlays the NEON kernels and activation quantizers on `k` (`level` ≥ 1), then
/// the SDOT kernels (`level` ≥ 2); the caller caps `level` at [`detected_level`].
pub(crate) fn upgrade(k: &mut Kernels, level: usize) {
    if level == 0 {
        return;
    }
    k.name = "neon";
    k.dot_f32 = neon::dot_f32;
    k.ops = ops::table();
    k.quantize[type_index(GgmlType::Q8_0)] = Some(quantize::quantize_q8_0);
    k.quantize[type_index(GgmlType::Q8_1)] = Some(quantize::quantize_q8_1);
    for (ty, f) in neon_kernels() {
        k.vec_dot[type_index(ty)] = Some(f);
    }
    install_tiles(k, neon_tiles());
    if level >= 2 {
        k.name = "neon+dotprod";
        for (ty, f) in dotprod_kernels() {
            k.vec_dot[type_index(ty)] = Some(f);
        }
        install_tiles(k, dotprod_tiles());
        // Q4_0, Q4_1, Q5_0 and Q8_0 weights interleaved at load: fewer instructions than
        // their tiles in place (see `interleaved`).
        let q8_0 = (
            interleaved::prepare_q8_0 as PrepareFn,
            interleaved::prepared::<tiles::Q8_0>(),
        );
        let q8_1 = (
            interleaved::prepare_q8_1 as PrepareFn,
            interleaved::prepared::<tiles::Q4_1>(),
        );
        for (ty, run, prepare, dot) in [
            (
                GgmlType::Q4_0,
                dotprod::interleaved_q4_0_q8_0 as InterleavedFn,
                q8_0,
                dotprod::vec_dot_q4_0_q8_0 as VecDotFn,
            ),
            (
                GgmlType::Q4_1,
                dotprod::interleaved_q4_1_q8_1,
                q8_1,
                dotprod::vec_dot_q4_1_q8_1,
            ),
            (
                GgmlType::Q5_0,
                dotprod::interleaved_q5_0_q8_0,
                q8_0,
                dotprod::vec_dot_q5_0_q8_0,
            ),
            (
                GgmlType::Q8_0,
                dotprod::interleaved_q8_0_q8_0,
                q8_0,
                dotprod::vec_dot_q8_0_q8_0,
            ),
        ] {
            k.interleaved[type_index(ty)] = Some(InterleavedKernel { run, prepare, dot });
        }
    }
}

/// True when the CPU (as the kernel reports it: HWCAP `asimddp`) has SDOT/UDOT.
fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}
