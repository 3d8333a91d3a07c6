//! Matrix-matrix tiles for Q4_K and Q6_K: each weight block is unpacked once (a
//! `k_quants` row) and dotted with the same block of all `TILE_TOKENS` tokens (read
//! as quantized, no preparation), with
//! the dot kernel's own arithmetic, so every output is bit-identical to it.

use std::arch::x86_64::*;

use super::k_quants::{Q4kRow, Q6kRow};
use crate::cpu::dispatch::{Tile, TILE_ROWS};
use crate::quant::{q4_k, q6_k, q8_k};

/// A K-quant weight block unpacked for several tokens.
trait Unpacked: Sized {
    const BLOCK_BYTES: usize;

    /// # Safety
    /// AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
    unsafe fn new(bw: &[u8]) -> Self;

    /// # Safety
    /// As [`Unpacked::new`].
    unsafe fn dot(&self, bx: &[u8], acc: __m512) -> __m512;
}

impl Unpacked for Q4kRow {
    const BLOCK_BYTES: usize = q4_k::BLOCK_BYTES;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn new(bw: &[u8]) -> Self {
        Q4kRow::new(bw)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn dot(&self, bx: &[u8], acc: __m512) -> __m512 {
        Q4kRow::dot(self, bx, acc)
    }
}

impl Unpacked for Q6kRow {
    const BLOCK_BYTES: usize = q6_k::BLOCK_BYTES;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn new(bw: &[u8]) -> Self {
        Q6kRow::new(bw)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn dot(&self, bx: &[u8], acc: __m512) -> __m512 {
        Q6kRow::dot(self, bx, acc)
    }
}

/// One tile, a weight row at a time.
///
/// # Safety
/// AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tile<R: Unpacked, const C: usize>(
    w: &[u8],
    row_bytes: usize,
    x: &[u8],
    n: usize,
    t0: usize,
    out: &mut Tile,
) {
    let (wb, xb) = (R::BLOCK_BYTES, q8_k::BLOCK_BYTES);
    assert!(t0 + C <= n);
    let q_bytes = x.len() / n;
    let blocks = row_bytes / wb;
    for (r, out) in out.iter_mut().enumerate().take(TILE_ROWS) {
        let row = &w[r * row_bytes..(r + 1) * row_bytes];
        let mut acc = [_mm512_setzero_ps(); C];
        for b in 0..blocks {
            // SAFETY: features from the caller.
            let unpacked = unsafe { R::new(&row[b * wb..(b + 1) * wb]) };
            for (t, acc) in acc.iter_mut().enumerate() {
                let at = (t0 + t) * q_bytes + b * xb;
                // SAFETY: as above.
                *acc = unsafe { unpacked.dot(&x[at..at + xb], *acc) };
            }
        }
        for (o, acc) in out.iter_mut().zip(acc) {
            *o = _mm512_reduce_add_ps(acc);
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
            // SAFETY: installed only after `x86::upgrade` detected AVX-512 F, BW, VL
            // and VNNI next to AVX2, FMA and F16C.
            unsafe {
                for_tokens!(tokens, tile::<$row>(w, row_bytes, x, n, t0, out))
            }
        }
    )*};
}

tiles! {
    tile_q4_k_q8_k => Q4kRow,
    tile_q6_k_q8_k => Q6kRow,
}
