//! Matrix-matrix tiles for the 32-value block formats: [`TILE_ROWS`] weight rows
//! times up to [`TILE_TOKENS`] activation rows per call: prefill, and decode (one
//! token) too, where two rows per register halve the work of a dot per row.
//!
//! A dot product per (row, token) pair unpacks the same weight block once per token;
//! a tile unpacks each weight block once for all its tokens and keeps the 4 × 8
//! outputs in registers. Two weight rows share a 512-bit register (one per 256-bit
//! half) against a token's block broadcast to both halves, and each half accumulates
//! exactly what the 256-bit dot kernel (`vnni256`) accumulates, in the same order, so
//! every output is bit-identical to that kernel's: prefill, decode and any batch size
//! give the same logits.
//!
//! What depends on the token alone is computed once per product by `prepare_*`, in
//! the layout of `prepared.rs`: the tokens' 32 values (+128 for Q8_0 weights), their
//! scales as f32, and then either the offset corrections (Q5_0) or the Q8_1 sums.
//! (Q4_0 has its own tile, `q4_0_tile.rs`.)

use std::arch::x86_64::*;

use crate::cpu::dispatch::{Tile, TILE_ROWS, TILE_TOKENS};
use crate::cpu::prefetch;
use crate::cpu::prepared::{self, group};
use crate::cpu::x86::avx2::hsum;
use crate::quant::float::f16_to_f32;
use crate::quant::{q4_1, q5_0, q5_1, q8_0, q8_1};

/// Weight rows per 512-bit register.
const ROW_PAIRS: usize = TILE_ROWS / 2;

/// Prepared bytes per token and block: values, scale, then 8 i32 corrections
/// (Q8_0 activations) or the f32 sum (Q8_1).
pub(crate) const PREPARED_Q8_0: usize = 32 + 4 + 32;
pub(crate) const PREPARED_Q8_1: usize = 32 + 4 + 4;

/// Two weight rows' block `b`, unpacked.
#[derive(Clone, Copy)]
struct Rows {
    /// Row 2p's 32 values as bytes in the low half, row 2p + 1's in the high.
    q: __m512i,
    /// Their scales, 8 lanes each.
    d: __m512,
    /// Q8_0 only: −128 · Σ q per 32-bit lane, undoing the +128 on the activations.
    neg: __m512i,
}

/// How one weight format reads its blocks; the tile loop is shared.
trait Format {
    /// Bytes of a weight block.
    const WB: usize;
    /// Activations are Q8_1 (sums, no corrections) rather than Q8_0, and the weight
    /// block's f16 min is at byte `MIN_AT` (Q4_1, Q5_1).
    const Q8_1: bool;
    const MIN_AT: usize = 2;

    /// Block `b` of the rows at `w0` and `w1`.
    ///
    /// # Safety
    /// Both point at a whole weight block; AVX-512 F/BW/VL/VNNI and F16C present.
    unsafe fn rows(w0: *const u8, w1: *const u8) -> Rows;

    /// The integer dot products of both rows with the token values `x` (broadcast to
    /// both halves), 8 lanes per row exactly as the 256-bit kernel sums them; `e` is
    /// the token's prepared corrections (Q5_0).
    ///
    /// By default Σ q x plus `e` (zero for Q8_1 activations).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI present.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Rows, x: __m512i, e: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(e, r.q, x)
    }
}

/// The 16 bytes at `p0` in 128-bit lanes 0 and 1, those at `p1` in lanes 2 and 3.
///
/// # Safety
/// 16 readable bytes at each.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn two16(p0: *const u8, p1: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 16 readable bytes at each; no alignment needed.
    let (a, b) = unsafe {
        (
            _mm256_broadcastsi128_si256(_mm_loadu_si128(p0.cast())),
            _mm256_broadcastsi128_si256(_mm_loadu_si128(p1.cast())),
        )
    };
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
}

/// The 32 nibbles of the 16 bytes at `p0` (low half) and at `p1` (high half), each in
/// ggml's order (low nibbles are values 0..16).
///
/// # Safety
/// 16 readable bytes at each.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibbles2(p0: *const u8, p1: *const u8) -> __m512i {
    // SAFETY: forwarded from the caller.
    let v = unsafe { two16(p0, p1) };
    let mask = _mm512_set1_epi8(0x0f);
    let lo = _mm512_and_si512(v, mask);
    let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    // 128-bit lanes 1 and 3 (64-bit elements 2, 3, 6, 7) take the high nibbles.
    _mm512_mask_blend_epi64(0b1100_1100, lo, hi)
}

/// Byte `i` of the low half is 0x10 when bit `i` of the u32 at `p0` is set; the high
/// half likewise from `p1`.
///
/// # Safety
/// 4 readable bytes at each.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn fifth_bits2(p0: *const u8, p1: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 4 readable bytes at each.
    let (a, b) = unsafe {
        (
            p0.cast::<u32>().read_unaligned(),
            p1.cast::<u32>().read_unaligned(),
        )
    };
    let set = _mm512_movm_epi8(((b as u64) << 32) | a as u64);
    _mm512_and_si512(set, _mm512_set1_epi8(0x10))
}

/// The f16s at `p0` and `p1` as f32, in 8 lanes each.
///
/// # Safety
/// 2 readable bytes at each.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn scales2(p0: *const u8, p1: *const u8) -> __m512 {
    // SAFETY: the caller guarantees 2 readable bytes at each.
    let bits = unsafe {
        p0.cast::<u16>().read_unaligned() as i32 | (p1.cast::<u16>().read_unaligned() as i32) << 16
    };
    let halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
    _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(v))
}

struct Q5_0;
struct Q8_0;
struct Q4_1;
struct Q5_1;

impl Format for Q5_0 {
    const WB: usize = q5_0::BLOCK_BYTES;
    const Q8_1: bool = false;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows(w0: *const u8, w1: *const u8) -> Rows {
        // SAFETY: a Q5_0 block is d (2 bytes), the fifth bits (4), 16 bytes of nibbles.
        unsafe {
            Rows {
                q: _mm512_or_si512(
                    nibbles2(w0.add(6), w1.add(6)),
                    fifth_bits2(w0.add(2), w1.add(2)),
                ),
                d: scales2(w0, w1),
                neg: _mm512_setzero_si512(),
            }
        }
    }
}

impl Format for Q8_0 {
    const WB: usize = q8_0::BLOCK_BYTES;
    const Q8_1: bool = false;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows(w0: *const u8, w1: *const u8) -> Rows {
        // SAFETY: a Q8_0 block is d (2 bytes) then 32 signed bytes.
        let q = unsafe {
            _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(w0.add(2).cast())),
                _mm256_loadu_si256(w1.add(2).cast()),
            )
        };
        let sum128 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), q);
        Rows {
            q,
            // SAFETY: as above.
            d: unsafe { scales2(w0, w1) },
            neg: _mm512_sub_epi32(_mm512_setzero_si512(), sum128),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Rows, x: __m512i, _e: __m512i) -> __m512i {
        // Σ (x + 128) q − 128 Σ q = Σ x q: `vpdpbusd` wants its first operand unsigned.
        _mm512_dpbusd_epi32(r.neg, x, r.q)
    }
}

impl Format for Q4_1 {
    const WB: usize = q4_1::BLOCK_BYTES;
    const Q8_1: bool = true;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows(w0: *const u8, w1: *const u8) -> Rows {
        // SAFETY: a Q4_1 block is d, m (2 bytes each) then 16 bytes of nibbles; `tile`
        // reads m.
        unsafe {
            Rows {
                q: nibbles2(w0.add(4), w1.add(4)),
                d: scales2(w0, w1),
                neg: _mm512_setzero_si512(),
            }
        }
    }
}

impl Format for Q5_1 {
    const WB: usize = q5_1::BLOCK_BYTES;
    const Q8_1: bool = true;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn rows(w0: *const u8, w1: *const u8) -> Rows {
        // SAFETY: a Q5_1 block is d, m (2 bytes each), the fifth bits (4), 16 bytes of
        // nibbles; `tile` reads m.
        unsafe {
            Rows {
                q: _mm512_or_si512(
                    nibbles2(w0.add(8), w1.add(8)),
                    fifth_bits2(w0.add(4), w1.add(4)),
                ),
                d: scales2(w0, w1),
                neg: _mm512_setzero_si512(),
            }
        }
    }
}

/// Prepared bytes per token and block for format `F`.
const fn prepared<F: Format>() -> usize {
    if F::Q8_1 {
        PREPARED_Q8_1
    } else {
        PREPARED_Q8_0
    }
}

/// The tile loop shared by every format.
///
/// # Safety
/// `w` holds [`TILE_ROWS`] rows `row_bytes` apart of `blocks` blocks each, and `act`
/// the prepared activations of `n ≥ t0 + C` tokens for those blocks, `t0` starting a
/// group
/// (checked by [`run`]); AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tile<F: Format, const C: usize>(
    w: *const u8,
    row_bytes: usize,
    act: *const u8,
    n: usize,
    t0: usize,
    blocks: usize,
    out: &mut Tile,
) {
    let mut acc = [[_mm512_setzero_ps(); C]; ROW_PAIRS];
    // Q4_1/Q5_1: Σ m_w · s_x per (row, token), in the dot kernel's order. With four
    // tokens or more the lanes run over tokens (one multiply per row), else over rows
    // (one per token).
    let by_tokens = C >= 4;
    let mut mins_of_row = [_mm256_setzero_ps(); TILE_ROWS];
    let mut mins_of_token = [_mm_setzero_ps(); C];
    let (start, m) = group(n, t0, blocks, prepared::<F>());
    for b in 0..blocks {
        // The next tile's rows, contiguous after this tile's.
        prefetch::share(
            w.wrapping_add(TILE_ROWS * row_bytes),
            TILE_ROWS * row_bytes,
            blocks,
            b,
        );
        // SAFETY (all pointer arithmetic below): within the extents checked by `run`.
        let base = unsafe { act.add(start + b * m * prepared::<F>()) };
        let (values, scales, extra) = unsafe { (base, base.add(32 * m), base.add(36 * m)) };
        let mut rows = [Rows {
            q: _mm512_setzero_si512(),
            d: _mm512_setzero_ps(),
            neg: _mm512_setzero_si512(),
        }; ROW_PAIRS];
        for (p, rows) in rows.iter_mut().enumerate() {
            // SAFETY: rows 2p and 2p + 1 have block `b`.
            *rows = unsafe {
                F::rows(
                    w.add(2 * p * row_bytes + b * F::WB),
                    w.add((2 * p + 1) * row_bytes + b * F::WB),
                )
            };
        }
        for t in 0..C {
            // SAFETY: token t0 + t has its values, scale and corrections in block `b`.
            let (x, dx, e) = unsafe {
                (
                    _mm512_broadcast_i64x4(_mm256_loadu_si256(values.add(32 * t).cast())),
                    _mm512_set1_ps(scales.add(4 * t).cast::<f32>().read_unaligned()),
                    if F::Q8_1 {
                        _mm512_setzero_si512()
                    } else {
                        _mm512_broadcast_i64x4(_mm256_loadu_si256(extra.add(32 * t).cast()))
                    },
                )
            };
            for (acc, rows) in acc.iter_mut().zip(&rows) {
                // SAFETY: features checked by the caller.
                let p = _mm512_cvtepi32_ps(unsafe { F::ints(rows, x, e) });
                acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(rows.d, dx), p, acc[t]);
            }
        }
        if F::Q8_1 {
            // The four rows' mins, widened by one F16C instruction.
            // SAFETY: each row's block `b` holds its f16 min at MIN_AT.
            let m = unsafe {
                let bits = |r: usize| {
                    w.add(r * row_bytes + b * F::WB + F::MIN_AT)
                        .cast::<u16>()
                        .read_unaligned() as u64
                };
                _mm_cvtph_ps(_mm_cvtsi64_si128(
                    (bits(0) | bits(1) << 16 | bits(2) << 32 | bits(3) << 48) as i64,
                ))
            };
            if by_tokens {
                // SAFETY: the tile's C tokens' sums, consecutive f32; the masked-off
                // lanes are not read.
                let sums = unsafe { _mm256_maskz_loadu_ps(((1u16 << C) - 1) as u8, extra.cast()) };
                let m = _mm256_castps128_ps256(m);
                for (r, mins) in mins_of_row.iter_mut().enumerate() {
                    let mr = _mm256_permutevar8x32_ps(m, _mm256_set1_epi32(r as i32));
                    *mins = _mm256_add_ps(*mins, _mm256_mul_ps(mr, sums));
                }
            } else {
                for (t, mins) in mins_of_token.iter_mut().enumerate() {
                    // SAFETY: token t0 + t's sum.
                    let s = unsafe { _mm_broadcast_ss(&*extra.add(4 * t).cast()) };
                    *mins = _mm_add_ps(*mins, _mm_mul_ps(m, s));
                }
            }
        }
    }
    let mut row_mins = [[0f32; TILE_TOKENS]; TILE_ROWS];
    let mut token_mins = [[0f32; 4]; C];
    // SAFETY: each destination has room for the 8 or 4 lanes stored.
    unsafe {
        for (m, v) in row_mins.iter_mut().zip(&mins_of_row) {
            _mm256_storeu_ps(m.as_mut_ptr(), *v);
        }
        for (m, v) in token_mins.iter_mut().zip(&mins_of_token) {
            _mm_storeu_ps(m.as_mut_ptr(), *v);
        }
    }
    const _: () = assert!(TILE_ROWS == 4);
    for (r, out) in out.iter_mut().enumerate() {
        for (t, o) in out.iter_mut().enumerate().take(C) {
            let m = if by_tokens {
                row_mins[r][t]
            } else {
                token_mins[t][r]
            };
            let acc = acc[r / 2][t];
            let half = if r % 2 == 0 {
                _mm512_castps512_ps256(acc)
            } else {
                // (the AVX-512 F form: `extractf32x8` is AVX-512 DQ, not enabled here)
                _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc)))
            };
            *o = hsum(half) + m;
        }
    }
}

/// Checks the extents, then runs the tile of format `F`.
///
/// # Safety
/// AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn run<F: Format, const C: usize>(
    w: &[u8],
    row_bytes: usize,
    act: &[u8],
    n: usize,
    t0: usize,
    out: &mut Tile,
) {
    let blocks = row_bytes / F::WB;
    assert!(blocks * F::WB == row_bytes && t0 + C <= n);
    assert!(w.len() >= TILE_ROWS * row_bytes);
    assert!(act.len() >= blocks * n * prepared::<F>());
    // SAFETY: extents checked above; features by the caller.
    unsafe { tile::<F, C>(w.as_ptr(), row_bytes, act.as_ptr(), n, t0, blocks, out) }
}

/// For 32 token values `v` and weights stored with `offset` (16 for Q5_0): the correction −offset · Σ x per 4-value lane, as 8 little-endian i32.
fn corrections(v: &[u8], offset: i32, out: &mut [u8]) {
    for (lane, o) in v.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        let s: i32 = lane.iter().map(|&b| b as i8 as i32).sum();
        o.copy_from_slice(&(-offset * s).to_le_bytes());
    }
}

/// Q8_0 activations prepared, with the corrections for weights stored with
/// `offset`; offset 0 (Q8_0 weights) adds 128 to the values instead.
fn prepare_q8_0(qx: &[u8], n: usize, out: &mut [u8], offset: i32) {
    prepared::prepare(
        qx,
        n,
        out,
        q8_0::BLOCK_BYTES,
        PREPARED_Q8_0,
        false,
        |blk, values, scale, extra| {
            let v = &blk[2..];
            if offset == 0 {
                for (d, &s) in values.iter_mut().zip(v) {
                    *d = s ^ 0x80;
                }
            } else {
                values.copy_from_slice(v);
                corrections(v, offset, extra);
            }
            scale.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])).to_le_bytes());
        },
    )
}

/// Q8_1 activations prepared: values, scale, sum.
fn prepare_q8_1(qx: &[u8], n: usize, out: &mut [u8]) {
    prepared::prepare(
        qx,
        n,
        out,
        q8_1::BLOCK_BYTES,
        PREPARED_Q8_1,
        false,
        |blk, values, scale, sum| {
            values.copy_from_slice(&blk[4..]);
            scale.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])).to_le_bytes());
            sum.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[2], blk[3]])).to_le_bytes());
        },
    )
}

pub(crate) fn prepare_for_q5_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_0(qx, n, out, 16)
}

pub(crate) fn prepare_for_q8_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_0(qx, n, out, 0)
}

pub(crate) fn prepare_for_q4_q5_1(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_1(qx, n, out)
}

/// Generates the safe dispatch-table entries.
macro_rules! tiles {
    ($($name:ident => $format:ty,)*) => {$(
        pub(crate) fn $name(
            w: &[u8],
            row_bytes: usize,
            act: &[u8],
            n: usize,
            t0: usize,
            tokens: usize,
            out: &mut Tile,
        ) {
            // SAFETY: installed only after `x86::upgrade` detected AVX-512 F, BW, VL
            // and VNNI next to AVX2, FMA and F16C.
            unsafe {
                for_tokens!(tokens, run::<$format>(w, row_bytes, act, n, t0, out))
            }
        }
    )*};
}

tiles! {
    tile_q5_0_q8_0 => Q5_0,
    tile_q8_0_q8_0 => Q8_0,
    tile_q4_1_q8_1 => Q4_1,
    tile_q5_1_q8_1 => Q5_1,
}
