//! Every tile kernel of every instruction-set level this CPU runs against the dot kernel
//! it reproduces: bit-identical outputs, on random rows of several lengths (large and
//! all-zero blocks included), so tiled prefill and one-token decode give the same logits.
//! The kernels for interleaved weights likewise.

use super::dispatch::{detected_level, select, Kernels, LEVELS, TILE_ROWS, TILE_TOKENS};
use super::interleave::{layout, GROUP};
use super::test_data::values;
use super::{matmul, vec_dot_type, Precision, WeightLayout, Weights};
use crate::quant::{quantize_row, GgmlType};

/// `rows` rows of `cols` random values quantized to `ty`, back to back.
fn matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let rb = ty.row_bytes(cols).unwrap();
    let mut out = vec![0u8; rows * rb];
    for (r, row) in out.chunks_exact_mut(rb).enumerate() {
        let gain = [1.0, 0.0, 20.0, 0.3][r % 4];
        quantize_row(ty, &values(cols, seed + r as u64, gain), row).unwrap();
    }
    out
}

/// The levels whose tables have tiles: on these the test must check some, so a table
/// that lost its tiles fails instead of passing with nothing checked.
const TILED: &[&str] = &["avx2", "avx512", "neon", "dotprod"];

#[test]
fn tiles_equal_their_dot_kernels_bit_for_bit() {
    for (level, name) in LEVELS.iter().enumerate().take(detected_level() + 1) {
        let k = select(level);
        let checked = check_tiles(&k);
        eprintln!("{}: {checked} tile kernels checked", k.name);
        if TILED.contains(name) {
            assert!(checked > 0, "{name}: no tile kernels installed");
        }
    }
}

/// Checks every tile of `k`; returns how many there were.
fn check_tiles(k: &Kernels) -> usize {
    let mut checked = 0;
    for ty in GgmlType::ALL {
        let Some(tk) = k.tile(ty) else {
            continue;
        };
        checked += 1;
        let vt = vec_dot_type(ty);
        // Two tiles of tokens plus every count left over, as prompts would have.
        for (blocks, tail) in [1usize, 2, 3, 7, 18, 48]
            .into_iter()
            .flat_map(|b| (1..=TILE_TOKENS).map(move |tail| (b, tail)))
        {
            let n = 2 * TILE_TOKENS + tail;
            let cols = blocks * ty.block_size();
            let (rb, qb) = (ty.row_bytes(cols).unwrap(), vt.row_bytes(cols).unwrap());
            let w = matrix(ty, TILE_ROWS, cols, 7 * blocks as u64);
            let x = matrix(vt, n, cols, 1000 + (blocks * n) as u64);
            let act = match tk.prepare {
                None => x.clone(),
                Some((prepare, bytes)) => {
                    let mut act = vec![0u8; n * bytes * (cols / ty.block_size())];
                    prepare(&x, n, &mut act);
                    act
                }
            };
            // Whole tiles, the last group's tokens, and fewer tokens than a group has.
            let calls = [
                (0, TILE_TOKENS),
                (TILE_TOKENS, TILE_TOKENS),
                (n - tail, tail),
            ]
            .into_iter()
            .chain((1..TILE_TOKENS).map(|c| (TILE_TOKENS, c)));
            for (t0, tokens) in calls {
                let mut out = [[f32::NAN; TILE_TOKENS]; TILE_ROWS];
                (tk.tile)(&w, rb, &act, n, t0, tokens, &mut out);
                for (r, row) in out.iter().enumerate() {
                    for (t, &got) in row[..tokens].iter().enumerate() {
                        let xt = &x[(t0 + t) * qb..(t0 + t + 1) * qb];
                        let want = (tk.dot)(&w[r * rb..(r + 1) * rb], xt);
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{} {ty} tile, {blocks} blocks, {n} tokens, row {r} token {}: {got} vs dot {want}",
                            k.name,
                            t0 + t
                        );
                    }
                }
            }
        }
    }
    checked
}

/// The levels with kernels for interleaved weights.
const INTERLEAVED: &[&str] = &["dotprod"];

#[test]
fn interleaved_kernels_equal_their_dot_kernels_bit_for_bit() {
    for (level, name) in LEVELS.iter().enumerate().take(detected_level() + 1) {
        let k = select(level);
        let mut checked = 0;
        for ty in GgmlType::ALL {
            let Some(ik) = k.interleaved(ty) else {
                continue;
            };
            checked += 1;
            let vt = vec_dot_type(ty);
            for (blocks, groups) in [(1, 1), (2, 3), (7, 2), (18, 16)] {
                let (rows, cols) = (GROUP * groups, blocks * ty.block_size());
                let (rb, qb) = (ty.row_bytes(cols).unwrap(), vt.row_bytes(cols).unwrap());
                let data = matrix(ty, rows, cols, 3 * blocks as u64);
                let packed = layout(&Weights::rows(ty, rows, cols, &data)).unwrap();
                let n = 2 * TILE_TOKENS + 3;
                let x = matrix(vt, n, cols, 500 + blocks as u64);
                let (prepare, bytes) = ik.prepare;
                let mut act = vec![0u8; n * bytes * blocks];
                prepare(&x, n, &mut act);
                // Whole groups of tokens, the last group's, and fewer than a group has.
                let calls = [
                    (0, TILE_TOKENS),
                    (TILE_TOKENS, 7),
                    (n - 3, 3),
                    (0, 5),
                    (8, 1),
                ];
                for (t0, tokens) in calls {
                    let mut out = vec![f32::NAN; tokens * rows];
                    (ik.run)(&packed, rb, &act, n, t0, tokens, &mut out);
                    for (t, outs) in out.chunks_exact(rows).enumerate() {
                        for (r, &got) in outs.iter().enumerate() {
                            let xt = &x[(t0 + t) * qb..(t0 + t + 1) * qb];
                            let want = (ik.dot)(&data[r * rb..(r + 1) * rb], xt);
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "{} interleaved {ty}, {blocks} blocks, row {r} token {}: {got} vs dot {want}",
                                k.name,
                                t0 + t
                            );
                        }
                    }
                }
            }
        }
        eprintln!("{}: {checked} interleaved kernels checked", k.name);
        if INTERLEAVED.contains(name) {
            assert!(checked > 0, "{name}: no interleaved kernels installed");
        }
    }
}

/// Interleaved weights through `matmul`, whether this CPU's kernels read them or rows
/// are rebuilt one by one, give what the same rows in ggml's layout give.
#[test]
fn matmul_of_interleaved_weights_equals_matmul_of_rows() {
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
    ] {
        for (rows, cols, n) in [(4, 32, 1), (70, 96, 1), (70, 96, 11), (9, 576, 3)] {
            let data = matrix(ty, rows, cols, rows as u64);
            let w = Weights::rows(ty, rows, cols, &data);
            let packed = layout(&w).unwrap();
            let p = Weights {
                data: &packed,
                layout: WeightLayout::Interleaved,
                ..w
            };
            let x = values(n * cols, 42, 1.0);
            for precision in [Precision::Fast, Precision::Precise] {
                let (mut want, mut got) = (vec![0f32; n * rows], vec![1f32; n * rows]);
                matmul(&w, &x, n, &mut want, precision);
                matmul(&p, &x, n, &mut got, precision);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{ty} {rows}x{cols}, {n} tokens, {precision:?}"
                );
            }
        }
    }
}
