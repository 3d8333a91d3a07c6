//! Matrix tiles for Q4_K, Q5_K and Q6_K: each weight super-block is unpacked once
//! (quants, scales) and dotted with the same block of every token of the tile, read
//! as quantized (no preparation), with the dot kernel's own arithmetic, so every
//! output is bit-identical to it. Decode gains the per-row call overhead.

use std::arch::x86_64::*;

use super::hsum;
use super::k16::Q6kBlock;
use super::k32::{q4_k_block, q5_k_block, K32Block};
use crate::cpu::dispatch::{Tile, TILE_ROWS};
use crate::cpu::prefetch;
use crate::quant::{q4_k, q5_k, q6_k, q8_k};

/// A K-quant weight block unpacked for several tokens.
trait Unpacked: Sized {
    const BLOCK_BYTES: usize;

    /// # Safety
    /// AVX2, FMA and F16C present.
    unsafe fn new(bw: &[u8]) -> Self;

    /// # Safety
    /// As [`Unpacked::new`].
    unsafe fn dot(&self, bx: &[u8], acc: __m256) -> __m256;
}

/// Q4_K and Q5_K share the unpacked form; the marker picks the quants.
struct Q4k(K32Block);
struct Q5k(K32Block);

impl Unpacked for Q4k {
    const BLOCK_BYTES: usize = q4_k::BLOCK_BYTES;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn new(bw: &[u8]) -> Self {
        Q4k(q4_k_block(bw))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot(&self, bx: &[u8], acc: __m256) -> __m256 {
        self.0.dot(bx, acc)
    }
}

impl Unpacked for Q5k {
    const BLOCK_BYTES: usize = q5_k::BLOCK_BYTES;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn new(bw: &[u8]) -> Self {
        Q5k(q5_k_block(bw))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot(&self, bx: &[u8], acc: __m256) -> __m256 {
        self.0.dot(bx, acc)
    }
}

impl Unpacked for Q6kBlock {
    const BLOCK_BYTES: usize = q6_k::BLOCK_BYTES;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn new(bw: &[u8]) -> Self {
        Q6kBlock::new(bw)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot(&self, bx: &[u8], acc: __m256) -> __m256 {
        Q6kBlock::dot(self, bx, acc)
    }
}

/// One tile, a weight row at a time.
///
/// # Safety
/// AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<R: Unpacked, const C: usize>(
    w: &[u8],
    row_bytes: usize,
    x: &[u8],
    n: usize,
    t0: usize,
    out: &mut Tile,
) {
    let (wb, xb) = (R::BLOCK_BYTES, q8_k::BLOCK_BYTES);
    assert!(t0 + C <= n && w.len() >= TILE_ROWS * row_bytes);
    let q_bytes = x.len() / n;
    let blocks = row_bytes / wb;
    let next = w.as_ptr().wrapping_add(TILE_ROWS * row_bytes);
    for (r, out) in out.iter_mut().enumerate() {
        let row = &w[r * row_bytes..(r + 1) * row_bytes];
        let mut acc = [_mm256_setzero_ps(); C];
        for b in 0..blocks {
            // The next tile's rows, a share per block of the four rows.
            prefetch::share(
                next,
                TILE_ROWS * row_bytes,
                TILE_ROWS * blocks,
                r * blocks + b,
            );
            // SAFETY: features from the caller.
            let unpacked = unsafe { R::new(&row[b * wb..(b + 1) * wb]) };
            for (t, acc) in acc.iter_mut().enumerate() {
                let at = (t0 + t) * q_bytes + b * xb;
                // SAFETY: as above.
                *acc = unsafe { unpacked.dot(&x[at..at + xb], *acc) };
            }
        }
        for (o, acc) in out.iter_mut().zip(acc) {
            *o = hsum(acc);
        }
    }
}

/// Generates the safe dispatch-table entries.
macro_rules! tiles {
    ($($name:ident => $row:ty,)*) => {$(
        pub(crate) fn $name(
            w: &[u8],
            row_bytes: usize,
            x: &[u8],
            n: usize,
            t0: usize,
            tokens: usize,
            out: &mut Tile,
        ) {
            // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
            unsafe { for_tokens!(tokens, tile::<$row>(w, row_bytes, x, n, t0, out)) }
        }
    )*};
}

tiles! {
    tile_q4_k_q8_k => Q4k,
    tile_q5_k_q8_k => Q5k,
    tile_q6_k_q8_k => Q6kBlock,
}
