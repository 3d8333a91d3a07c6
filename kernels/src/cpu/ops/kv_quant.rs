//! Reading a KV cache stored as ggml Q8_0 / Q4_0 blocks (32 values, an f16 scale).
//!
//! The scalar versions here are the definitions: an element is its block's quant
//! times the block's scale, one f32 multiply of two exact values, so every SIMD
//! version (which widens the same integers and multiplies once) is bit-identical.
//! The key tile is built once for every table, from the table's own `dequant_*` and
//! `key_tile_f32`: a block's worth of dimensions of the tile's rows is dequantized
//! into a small buffer and transposed, so there are no per-ISA copies of it.

use crate::cpu::dispatch::{DequantFn, Ops, SCORE_LANES};
use crate::quant::float::read_f16;
use crate::quant::{q4_0, q8_0};

/// The ggml block formats a KV cache may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvQuant {
    Q8_0,
    Q4_0,
}

impl KvQuant {
    /// Values per block.
    pub const BLOCK: usize = 32;

    /// Bytes of one block.
    pub const fn block_bytes(self) -> usize {
        match self {
            KvQuant::Q8_0 => q8_0::BLOCK_BYTES,
            KvQuant::Q4_0 => q4_0::BLOCK_BYTES,
        }
    }

    /// Bytes of a row of `len` values (`len` a multiple of [`Self::BLOCK`]).
    pub const fn row_bytes(self, len: usize) -> usize {
        len / Self::BLOCK * self.block_bytes()
    }

    /// The table's dequantizer of this format.
    pub(crate) fn dequant(self, ops: &Ops) -> DequantFn {
        match self {
            KvQuant::Q8_0 => ops.dequant_q8_0,
            KvQuant::Q4_0 => ops.dequant_q4_0,
        }
    }
}

/// The pieces of elements `at..at + n` of a row, block by block: `(block, j0, j1,
/// out)` covers quants `j0..j1` of block `block`, bound for `out..out + j1 - j0`.
pub(crate) fn block_runs(
    at: usize,
    n: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let qk = KvQuant::BLOCK;
    let mut e = at;
    std::iter::from_fn(move || {
        (e < at + n).then(|| {
            let (b, j0) = (e / qk, e % qk);
            let j1 = qk.min(j0 + at + n - e);
            let run = (b, j0, j1, e - at);
            e += j1 - j0;
            run
        })
    })
}

/// `out[i]` = element `at + i` of the Q8_0 row at the start of `row`: `d * q`.
pub fn dequant_q8_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q8_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        for (y, &q) in out[o..o + j1 - j0].iter_mut().zip(&blk[2 + j0..2 + j1]) {
            *y = (q as i8) as f32 * d;
        }
    }
}

/// Quant `j` (0..32) of a Q4_0 block's 16 nibble bytes: the low nibbles hold
/// `0..16`, the high nibbles `16..32`, each offset by 8.
#[inline]
pub(crate) fn q4_0_quant(qs: &[u8], j: usize) -> i32 {
    let byte = qs[j % 16];
    (if j < 16 { byte & 0x0f } else { byte >> 4 }) as i32 - 8
}

/// `out[i]` = element `at + i` of the Q4_0 row at the start of `row`:
/// `d * (nibble - 8)`.
pub fn dequant_q4_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q4_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        for (y, j) in out[o..o + j1 - j0].iter_mut().zip(j0..j1) {
            *y = q4_0_quant(&blk[2..], j) as f32 * d;
        }
    }
}

/// Elements `at..at + hd` (`hd = tile.len() / SCORE_LANES`) of `m <= SCORE_LANES`
/// quantized rows (`row_bytes` apart from the start of `src`), transposed as
/// `key_tile_f32` transposes f32 rows: `tile[d * SCORE_LANES + l]` is element
/// `at + d` of row `l`, 0 for `l >= m`. Uses `ops`' dequantizer and transpose, so
/// each table's tile equals the scalar table's bit for bit when its parts do.
pub(crate) fn key_tile_quant(
    ops: &Ops,
    ty: KvQuant,
    src: &[u8],
    row_bytes: usize,
    at: usize,
    m: usize,
    tile: &mut [f32],
) {
    assert!(m <= SCORE_LANES);
    let hd = tile.len() / SCORE_LANES;
    let dequant = ty.dequant(ops);
    // One block's dimensions of every row at a time: 8 x 32 f32 stay in L1.
    let mut buf = [0f32; SCORE_LANES * KvQuant::BLOCK];
    for (_, j0, j1, d) in block_runs(at, hd) {
        let w = j1 - j0;
        for l in 0..m {
            dequant(&src[l * row_bytes..], at + d, &mut buf[l * w..(l + 1) * w]);
        }
        (ops.key_tile_f32)(
            &buf[..m * w],
            w,
            m,
            &mut tile[d * SCORE_LANES..(d + w) * SCORE_LANES],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_runs_split_at_block_edges() {
        let runs: Vec<_> = block_runs(30, 40).collect();
        assert_eq!(runs, [(0, 30, 32, 0), (1, 0, 32, 2), (2, 0, 6, 34)]);
        assert_eq!(block_runs(64, 0).count(), 0);
        assert_eq!(block_runs(64, 32).collect::<Vec<_>>(), [(2, 0, 32, 0)]);
    }

    /// The definitions equal ggml's whole-row dequantizers on every sub-range.
    #[test]
    fn ranges_equal_the_row_dequantizers() {
        let x = crate::cpu::test_data::values(96, 7, 3.0);
        for (ty, quantize, dequantize, part) in [
            (
                KvQuant::Q8_0,
                q8_0::quantize as fn(&[f32], &mut [u8]),
                q8_0::dequantize as fn(&[u8], &mut [f32]),
                dequant_q8_0 as DequantFn,
            ),
            (
                KvQuant::Q4_0,
                q4_0::quantize,
                q4_0::dequantize,
                dequant_q4_0,
            ),
        ] {
            let mut q = vec![0u8; ty.row_bytes(96)];
            quantize(&x, &mut q);
            let mut whole = vec![0f32; 96];
            dequantize(&q, &mut whole);
            for (at, n) in [(0, 96), (5, 1), (13, 40), (31, 2), (64, 32), (17, 0)] {
                let mut got = vec![f32::NAN; n];
                part(&q, at, &mut got);
                let same = got
                    .iter()
                    .zip(&whole[at..at + n])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{ty:?} at {at} n {n}");
            }
        }
    }
}
