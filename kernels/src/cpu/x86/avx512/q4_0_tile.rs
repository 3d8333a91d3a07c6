//! The Q4_0 tile, which sums each block in integers before any float work, then adds
//! `sumi · (d_w · d_x)` with one fused multiply-add per block: the formula of
//! llama.cpp's repacked Q4_0 kernels (x86, AVX2 and AVX-512), so our outputs equal
//! theirs. Bit-identical to `scalar::vec_dot_q4_0_q8_0_fused`.
//!
//! The four weight rows share one 512-bit register, a 128-bit lane each (a block's 16
//! bytes of nibbles). Each group of four values is broadcast across its row's lane
//! (`vpshufd`) and multiplied (`vpdpbusd`) with the tokens' same four values, stored
//! four tokens side by side: lane (row, token) then accumulates that pair's whole
//! block, and one convert, one multiply and one FMA per block take four rows × four
//! tokens to the accumulators. The float work per block is one lane per output, not
//! the eight of the 256-bit layout the other tiles keep (which is what bounded Q4_0
//! prefill), and no horizontal sums remain at the end. One token (decode) takes two
//! `vpdpbusd` against its 32 values and a sum within each row's lane.

use std::arch::x86_64::*;

use crate::cpu::dispatch::{Tile, TILE_ROWS, TILE_TOKENS};
use crate::cpu::prefetch;
use crate::cpu::prepared::{group, prepare};
use crate::quant::float::f16_to_f32;
use crate::quant::{q4_0, q8_0};

/// Prepared bytes per token and block: the 32 values, the scale as f32, then
/// −8 · Σ x as i32 (the weights' offset, applied once per block).
pub(crate) const PREPARED: usize = 32 + 4 + 4;

/// Tokens per register: one per 32-bit lane of a row's 128-bit lane.
const QUAD: usize = 4;

/// # Safety
/// `w` holds [`TILE_ROWS`] rows `row_bytes` apart of `blocks` Q4_0 blocks each, and
/// `act` the prepared activations of `n ≥ t0 + C` tokens for those blocks, `t0`
/// starting a group (checked by [`run`]); AVX-512 F/BW/VL/VNNI and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tile<const C: usize>(
    w: *const u8,
    row_bytes: usize,
    act: *const u8,
    n: usize,
    t0: usize,
    blocks: usize,
    out: &mut Tile,
) {
    const _: () = assert!(TILE_ROWS == 4 && TILE_TOKENS <= 2 * QUAD);
    let quads = C.div_ceil(QUAD);
    let mut acc = [_mm512_setzero_ps(); 2];
    let (start, m) = group(n, t0, blocks, PREPARED);
    let nibble = _mm512_set1_epi8(0x0f);
    // Lanes 4r..4r + 4 take element r: row r's scale across its 128-bit lane.
    let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    for b in 0..blocks {
        // The next tile's rows, contiguous after this tile's.
        prefetch::share(
            w.wrapping_add(TILE_ROWS * row_bytes),
            TILE_ROWS * row_bytes,
            blocks,
            b,
        );
        // SAFETY (all pointer arithmetic and loads below): within the extents checked
        // by `run`; the masked loads read only the tile's tokens.
        let (lo, hi, dw) = unsafe {
            let row = |r: usize| w.add(r * row_bytes + b * q4_0::BLOCK_BYTES);
            let nibbles = |r: usize| _mm_loadu_si128(row(r).add(2).cast());
            let mut u = _mm512_castsi128_si512(nibbles(0));
            u = _mm512_inserti32x4::<1>(u, nibbles(1));
            u = _mm512_inserti32x4::<2>(u, nibbles(2));
            u = _mm512_inserti32x4::<3>(u, nibbles(3));
            let d = |r: usize| row(r).cast::<u16>().read_unaligned() as u64;
            let d = _mm_cvtph_ps(_mm_cvtsi64_si128(
                (d(0) | d(1) << 16 | d(2) << 32 | d(3) << 48) as i64,
            ));
            (
                _mm512_and_si512(u, nibble),
                _mm512_and_si512(_mm512_srli_epi16::<4>(u), nibble),
                _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d)),
            )
        };
        let base = unsafe { act.add(start + b * m * PREPARED) };
        let (values, scales, offsets) = unsafe { (base, base.add(32 * m), base.add(36 * m)) };
        if C == 1 && m == 1 {
            // One token (decode): its values are contiguous, so two `vpdpbusd` against
            // them broadcast leave four partial sums per row, added within the row's
            // lane; every lane of a row then holds its whole sum.
            // SAFETY: the token's 32 values, scale and offset.
            let (xlo, xhi, offset, dx) = unsafe {
                (
                    _mm512_broadcast_i32x4(_mm_loadu_si128(values.cast())),
                    _mm512_broadcast_i32x4(_mm_loadu_si128(values.add(16).cast())),
                    _mm512_set1_epi32(offsets.cast::<i32>().read_unaligned()),
                    _mm512_set1_ps(scales.cast::<f32>().read_unaligned()),
                )
            };
            let v = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo);
            let v = _mm512_dpbusd_epi32(v, hi, xhi);
            let v = _mm512_add_epi32(v, _mm512_shuffle_epi32::<0b0100_1110>(v));
            let v = _mm512_add_epi32(v, _mm512_shuffle_epi32::<0b1011_0001>(v));
            let sumi = _mm512_add_epi32(v, offset);
            acc[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_mul_ps(dw, dx), acc[0]);
            continue;
        }
        // Lane (r, k) of groups[j]: row r's values 4j..4j + 4 (j < 4: the low nibbles,
        // values 0..16; else the high ones, 16..32).
        let groups = [
            _mm512_shuffle_epi32::<0x00>(lo),
            _mm512_shuffle_epi32::<0x55>(lo),
            _mm512_shuffle_epi32::<0xaa>(lo),
            _mm512_shuffle_epi32::<0xff>(lo),
            _mm512_shuffle_epi32::<0x00>(hi),
            _mm512_shuffle_epi32::<0x55>(hi),
            _mm512_shuffle_epi32::<0xaa>(hi),
            _mm512_shuffle_epi32::<0xff>(hi),
        ];
        for (q, acc) in acc.iter_mut().enumerate().take(quads) {
            let count = (C - QUAD * q).min(QUAD);
            let mask = ((1u32 << count) - 1) as __mmask8;
            // SAFETY: the group's values for the quad's tokens, 4 bytes per token and
            // group of values, `4m` bytes per group; lanes past the tile's tokens read
            // the next group or the scales (unused), never past the block; the offsets
            // and scales are masked loads of the tile's tokens.
            let (sumi, dx) = unsafe {
                let x = |j: usize| {
                    _mm512_broadcast_i32x4(_mm_loadu_si128(
                        values.add(4 * (m * j + QUAD * q)).cast(),
                    ))
                };
                let offset = _mm_maskz_loadu_epi32(mask, offsets.add(16 * q).cast());
                let mut low = _mm512_broadcast_i32x4(offset);
                let mut high = _mm512_setzero_si512();
                for j in 0..4 {
                    low = _mm512_dpbusd_epi32(low, groups[j], x(j));
                    high = _mm512_dpbusd_epi32(high, groups[4 + j], x(4 + j));
                }
                (
                    _mm512_add_epi32(low, high),
                    _mm_maskz_loadu_ps(mask, scales.add(16 * q).cast()),
                )
            };
            let d = _mm512_mul_ps(dw, _mm512_broadcast_f32x4(dx));
            *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, *acc);
        }
    }
    for (q, acc) in acc.iter().enumerate().take(quads) {
        let mut lanes = [0f32; 16];
        // SAFETY: `lanes` has room for the 16 lanes stored.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *acc) };
        let count = (C - QUAD * q).min(QUAD);
        for (r, out) in out.iter_mut().enumerate() {
            out[QUAD * q..QUAD * q + count].copy_from_slice(&lanes[QUAD * r..QUAD * r + count]);
        }
    }
}

/// Checks the extents, then runs the tile.
///
/// # Safety
/// AVX-512 F/BW/VL/VNNI and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn run<const C: usize>(
    w: &[u8],
    row_bytes: usize,
    act: &[u8],
    n: usize,
    t0: usize,
    out: &mut Tile,
) {
    let blocks = row_bytes / q4_0::BLOCK_BYTES;
    assert!(blocks * q4_0::BLOCK_BYTES == row_bytes && t0 + C <= n);
    assert!(w.len() >= TILE_ROWS * row_bytes);
    assert!(act.len() >= blocks * n * PREPARED);
    // SAFETY: extents checked above; features by the caller.
    unsafe { tile::<C>(w.as_ptr(), row_bytes, act.as_ptr(), n, t0, blocks, out) }
}

pub(crate) fn tile_q4_0_q8_0(
    w: &[u8],
    row_bytes: usize,
    act: &[u8],
    n: usize,
    t0: usize,
    tokens: usize,
    out: &mut Tile,
) {
    // SAFETY: installed only after `x86::upgrade` detected AVX-512 F, BW, VL and VNNI
    // next to AVX2, FMA and F16C.
    unsafe { for_tokens!(tokens, run(w, row_bytes, act, n, t0, out)) }
}

/// Q8_0 activations in the layout of `prepared.rs`, values interleaved, the extra
/// being the offset −8 · Σ x.
pub(crate) fn prepare_for_q4_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare(
        qx,
        n,
        out,
        q8_0::BLOCK_BYTES,
        PREPARED,
        true,
        |blk, values, scale, offset| {
            let v = &blk[2..];
            values.copy_from_slice(v);
            scale.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])).to_le_bytes());
            let sum: i32 = v.iter().map(|&x| x as i8 as i32).sum();
            offset.copy_from_slice(&(-8 * sum).to_le_bytes());
        },
    )
}
