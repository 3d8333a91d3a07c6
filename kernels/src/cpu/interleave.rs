//! Weight rows interleaved four at a time ([`WeightLayout::Interleaved`]): the layout
//! the aarch64 SDOT kernels read, made once at load (as ggml's repack does for Q4_0
//! and Q8_0) where the kernel set has a kernel for it.
//!
//! In place, four rows' blocks lie `row_bytes` apart: a kernel gathers their four
//! scales one by one and folds four per-row sums into one vector, for every block.
//! Interleaved, one load brings the four scales and a by-lane SDOT leaves each row's
//! sum in its own lane, so that work is gone.
//!
//! A group of 4 rows is, block after block: the 4 rows' quants 4 bytes at a time
//! (bytes `4k..4k + 4` of rows 0, 1, 2, 3, then of `k + 1`), then their f16 scales
//! (8 bytes; after the quants, so that those start 16-byte multiples apart and load
//! in pairs), then for Q4_1 their f16 minimums (8 bytes). Q5_0's fifth bits go between
//! the quants and the scales, as 8 bit planes of 16 bytes (see [`layout`]). Q4_0 quants are stored XOR 0x88: each nibble as a 4-bit two's
//! complement of its value minus 8. The bytes per group equal 4 rows' bytes, so a
//! matrix keeps its size; rows after the last whole group stay as they were.

use rayon::prelude::*;

use super::dispatch::kernels;
use super::{WeightLayout, Weights};
use crate::quant::{q4_0, q4_1, q5_0, q8_0, GgmlType};

/// Rows per interleaved group.
pub(crate) const GROUP: usize = 4;

/// How a block of a type with an interleaved layout is made: `block` bytes, the
/// first `head` of them f16 fields (a scale, then Q4_1's minimum), then `high` bytes of
/// fifth bits (Q5_0's `qh`), then the quants, stored XOR `xor`.
#[derive(Clone, Copy)]
struct Block {
    block: usize,
    head: usize,
    high: usize,
    xor: u8,
}

/// The weight types that have an interleaved layout.
fn block_of(ty: GgmlType) -> Option<Block> {
    let (block, head, high, xor) = match ty {
        GgmlType::Q4_0 => (q4_0::BLOCK_BYTES, 2, 0, 0x88),
        GgmlType::Q4_1 => (q4_1::BLOCK_BYTES, 4, 0, 0),
        GgmlType::Q5_0 => (q5_0::BLOCK_BYTES, 2, 4, 0),
        GgmlType::Q8_0 => (q8_0::BLOCK_BYTES, 2, 0, 0),
        _ => return None,
    };
    Some(Block {
        block,
        head,
        high,
        xor,
    })
}

/// Element `e` of a row's 32 (Q5_0: bit `e` of its `qh`) sits in unpacked vector `i`
/// at byte `j`: vectors 0..4 hold the low nibbles of quant bytes `4i..4i + 4` of the 4
/// rows, vectors 4..8 the high ones (elements 16 on).
fn vector_and_byte(row: usize, e: usize) -> (usize, usize) {
    let (half, within) = (e / 16, e % 16);
    (4 * half + within / 4, 4 * row + within % 4)
}

/// The bytes of `w` interleaved for this CPU's kernels, or `None` when they have no
/// interleaved kernel for its type (then reading the rows in place is best), it has
/// fewer rows than a group, or it is interleaved already. The bytes are as many as
/// `w.data`; pass them as `Weights { data, layout: WeightLayout::Interleaved, .. }`.
pub fn interleave(w: &Weights) -> Option<Vec<u8>> {
    kernels().interleaved(w.ty)?;
    layout(w)
}

/// [`interleave`] whatever the kernel set.
pub(crate) fn layout(w: &Weights) -> Option<Vec<u8>> {
    let Block {
        block: bb,
        head,
        high,
        xor,
    } = block_of(w.ty)?;
    let rb = w.ty.row_bytes(w.cols)?;
    if w.layout != WeightLayout::Rows || w.rows < GROUP || w.data.len() != w.rows * rb {
        return None;
    }
    // Zeroed (lazily, by the allocator), then every group written and the rows after
    // the last group copied: no copy of the whole matrix that the groups overwrite.
    let mut out = vec![0u8; w.data.len()];
    let whole = w.rows / GROUP * GROUP * rb;
    out[whole..].copy_from_slice(&w.data[whole..]);
    let groups = w.data.par_chunks_exact(GROUP * rb);
    groups
        .zip(out.par_chunks_exact_mut(GROUP * rb))
        .for_each(|(src, dst)| {
            for (b, blk) in dst.chunks_exact_mut(GROUP * bb).enumerate() {
                let row_block = |r: usize| &src[r * rb + b * bb..][..bb];
                let (quants, rest) = blk.split_at_mut(GROUP * (bb - head - high));
                let (planes, heads) = rest.split_at_mut(GROUP * high);
                // Q5_0's fifth bits as 8 bit planes: bit i of byte j is 1 where the
                // element at byte j of unpacked vector i has its fifth bit clear (the
                // kernel subtracts 16 there).
                if high > 0 {
                    planes.fill(0);
                    for r in 0..GROUP {
                        let qh = &row_block(r)[head..head + 4];
                        let qh = u32::from_le_bytes(qh.try_into().expect("4 bytes"));
                        for e in 0..32 {
                            let (i, j) = vector_and_byte(r, e);
                            planes[j] |= (((qh >> e) & 1) as u8 ^ 1) << i;
                        }
                    }
                }
                // Field f of row r at 8f + 2r: each field's 4 values load as one.
                for (i, d) in heads.chunks_exact_mut(2).enumerate() {
                    let (f, r) = (i / GROUP, i % GROUP);
                    d.copy_from_slice(&row_block(r)[2 * f..2 * f + 2]);
                }
                // Four bytes at a time: chunk c is row c % 4's quant bytes 4 (c / 4)...
                let xor = u32::from_ne_bytes([xor; 4]);
                for (c, q) in quants.chunks_exact_mut(4).enumerate() {
                    let j = head + high + 4 * (c / GROUP);
                    let src = &row_block(c % GROUP)[j..j + 4];
                    let v = u32::from_ne_bytes(src.try_into().expect("4 bytes")) ^ xor;
                    q.copy_from_slice(&v.to_ne_bytes());
                }
            }
        });
    Some(out)
}

/// Row `r` of `w` in ggml's layout: in place for a row outside the groups, else
/// rebuilt from its group into `buf` (one row's bytes).
pub(crate) fn row<'a>(w: &Weights<'a>, rb: usize, r: usize, buf: &'a mut [u8]) -> &'a [u8] {
    let data = w.data;
    if w.layout == WeightLayout::Rows || r >= w.rows / GROUP * GROUP {
        return &data[r * rb..(r + 1) * rb];
    }
    let Block {
        block: bb,
        head,
        high,
        xor,
    } = block_of(w.ty).expect("only types with a layout are interleaved");
    let group = &data[r / GROUP * GROUP * rb..][..GROUP * rb];
    let k = r % GROUP;
    for (b, out) in buf[..rb].chunks_exact_mut(bb).enumerate() {
        let blk = &group[b * GROUP * bb..][..GROUP * bb];
        let planes = GROUP * (bb - head - high);
        let heads = planes + GROUP * high;
        for f in 0..head / 2 {
            let at = heads + 2 * (GROUP * f + k);
            out[2 * f..2 * f + 2].copy_from_slice(&blk[at..at + 2]);
        }
        if high > 0 {
            let mut qh = 0u32;
            for e in 0..32 {
                let (i, j) = vector_and_byte(k, e);
                qh |= (((blk[planes + j] >> i) & 1) as u32 ^ 1) << e;
            }
            out[head..head + 4].copy_from_slice(&qh.to_le_bytes());
        }
        for (j, q) in out[head + high..].iter_mut().enumerate() {
            *q = blk[16 * (j / 4) + 4 * k + j % 4] ^ xor;
        }
    }
    &buf[..rb]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_data::values;
    use crate::quant::quantize_row;

    #[test]
    fn every_row_comes_back_from_its_group() {
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q8_0,
        ] {
            for rows in [4, 7, 9] {
                let cols = 96;
                let rb = ty.row_bytes(cols).unwrap();
                let mut data = vec![0u8; rows * rb];
                for (r, row) in data.chunks_exact_mut(rb).enumerate() {
                    quantize_row(ty, &values(cols, r as u64, 3.0), row).unwrap();
                }
                let w = Weights::rows(ty, rows, cols, &data);
                // Independent of the kernel set: the layout itself.
                let packed = layout(&w).unwrap();
                assert_ne!(packed, data, "{ty}: interleaving changed nothing");
                let p = Weights {
                    layout: WeightLayout::Interleaved,
                    data: &packed,
                    ..w
                };
                let mut buf = vec![0u8; rb];
                for r in 0..rows {
                    assert_eq!(
                        row(&p, rb, r, &mut buf),
                        &data[r * rb..(r + 1) * rb],
                        "{ty} row {r} of {rows}"
                    );
                }
            }
        }
    }
}
