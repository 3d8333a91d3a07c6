//! Matrix-matrix tiles for the 32-value block formats: [`TILE_ROWS`] weight rows
//! times [`TILE_TOKENS`] activation rows per call, for prefill.
//!
//! A dot product per (row, token) pair unpacks the same weight block once per token;
//! a tile unpacks each weight block once for all its tokens and each activation block
//! once for all its rows, and holds the 8 × 4 accumulators in registers. Two tokens
//! share one 512-bit register: the weight block is broadcast to both halves and each
//! half accumulates exactly what the 256-bit dot kernel (`vnni256`) accumulates, in
//! the same order, so every output is bit-identical to that kernel's. That keeps
//! prefill, decode and any batch size giving the same logits.

use std::arch::x86_64::*;

use crate::cpu::dispatch::{Tile, TILE_ROWS, TILE_TOKENS};
use crate::cpu::x86::avx2::hsum;
use crate::quant::{q4_0, q4_1, q5_0, q5_1, q8_0, q8_1};

/// Token pairs per tile: each pair shares a 512-bit register.
const PAIRS: usize = TILE_TOKENS / 2;
// The Q8_1 sums of a tile's tokens fill one 128-bit register.
const _: () = assert!(TILE_TOKENS == 4);

/// One weight block, unpacked for the whole tile.
#[derive(Clone, Copy)]
struct Row {
    /// The block's 32 values as bytes, broadcast to both 256-bit halves.
    q: __m512i,
    /// Its scale, broadcast.
    d: __m512,
    /// Q8_0 only: −128 · Σ q per 32-bit lane, undoing the +128 on the activations.
    neg: __m512i,
    /// Q4_1/Q5_1 only: the block's min.
    m: f32,
}

/// The same block of two tokens: token `2j` in the low half, `2j + 1` in the high.
#[derive(Clone, Copy)]
struct Pair {
    x: __m512i,
    d: __m512,
    /// Q4_0/Q5_0 only: −offset · Σ x per 32-bit lane, for weights stored with an
    /// offset (q − 8, q − 16).
    neg: __m512i,
}

/// How one weight format reads its blocks; the tile loop is shared.
trait Format {
    /// Bytes of a weight block and of the matching activation block.
    const WB: usize;
    const XB: usize;
    /// Offset of the activation values in their block (2 for Q8_0, 4 for Q8_1).
    const X_AT: usize;
    /// Whether the weights carry a min (Q4_1, Q5_1) that pairs with the Q8_1 sums.
    const HAS_MIN: bool;

    /// # Safety
    /// `b` points at a whole weight block; AVX-512 F/BW/VL/VNNI and F16C present.
    unsafe fn row(b: *const u8) -> Row;

    /// The integer dot products of `r` with both tokens of `p`, 8 lanes per token
    /// exactly as the 256-bit kernel sums them.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI present.
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i;

    /// The offset the weights are stored with (8 for Q4_0, 16 for Q5_0, else 0).
    const OFFSET: i8;
    /// Q8_0 weights: the activations get +128 instead (`vpdpbusd` wants one operand
    /// unsigned).
    const FLIP_X: bool = false;
}

/// 16 bytes at `p` in every 128-bit lane.
///
/// # Safety
/// 16 readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn broadcast16(p: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 16 readable bytes; loadu has no alignment needs.
    _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(p.cast()) })
}

/// The 32 nibbles of the 16 bytes at `p`, in ggml's order (low nibbles are values
/// 0..16), in both 256-bit halves.
///
/// # Safety
/// 16 readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibbles2(p: *const u8) -> __m512i {
    // SAFETY: forwarded from the caller.
    let v = unsafe { broadcast16(p) };
    let mask = _mm512_set1_epi8(0x0f);
    let lo = _mm512_and_si512(v, mask);
    let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    // 128-bit lanes 1 and 3 (64-bit elements 2, 3, 6, 7) take the high nibbles.
    _mm512_mask_blend_epi64(0b1100_1100, lo, hi)
}

/// Byte `i` of each 256-bit half is 0x10 when bit `i` of the u32 at `p` is set.
///
/// # Safety
/// 4 readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn fifth_bits2(p: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 4 readable bytes.
    let bits = unsafe { p.cast::<u32>().read_unaligned() };
    let set = _mm512_movm_epi8(((bits as u64) << 32) | bits as u64);
    _mm512_and_si512(set, _mm512_set1_epi8(0x10))
}

/// The f16 at `p` as f32, broadcast.
///
/// # Safety
/// 2 readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn f16_splat(p: *const u8) -> __m512 {
    // SAFETY: the caller guarantees 2 readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm512_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))))
}

/// The f16 at `p` as f32.
///
/// # Safety
/// 2 readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 2 readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

struct Q4_0;
struct Q5_0;
struct Q8_0;
struct Q4_1;
struct Q5_1;

impl Format for Q4_0 {
    const WB: usize = q4_0::BLOCK_BYTES;
    const XB: usize = q8_0::BLOCK_BYTES;
    const X_AT: usize = 2;
    const HAS_MIN: bool = false;
    const OFFSET: i8 = 8;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn row(b: *const u8) -> Row {
        // SAFETY: a Q4_0 block is d (2 bytes) then 16 bytes of nibbles.
        unsafe {
            Row {
                q: nibbles2(b.add(2)),
                d: f16_splat(b),
                neg: _mm512_setzero_si512(),
                m: 0.0,
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i {
        _mm512_dpbusd_epi32(p.neg, r.q, p.x)
    }
}

impl Format for Q5_0 {
    const WB: usize = q5_0::BLOCK_BYTES;
    const XB: usize = q8_0::BLOCK_BYTES;
    const X_AT: usize = 2;
    const HAS_MIN: bool = false;
    const OFFSET: i8 = 16;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn row(b: *const u8) -> Row {
        // SAFETY: a Q5_0 block is d (2 bytes), the fifth bits (4), 16 bytes of nibbles.
        unsafe {
            Row {
                q: _mm512_or_si512(nibbles2(b.add(6)), fifth_bits2(b.add(2))),
                d: f16_splat(b),
                neg: _mm512_setzero_si512(),
                m: 0.0,
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i {
        _mm512_dpbusd_epi32(p.neg, r.q, p.x)
    }
}

impl Format for Q8_0 {
    const WB: usize = q8_0::BLOCK_BYTES;
    const XB: usize = q8_0::BLOCK_BYTES;
    const X_AT: usize = 2;
    const HAS_MIN: bool = false;
    const OFFSET: i8 = 0;
    const FLIP_X: bool = true;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn row(b: *const u8) -> Row {
        // SAFETY: a Q8_0 block is d (2 bytes) then 32 signed bytes.
        let q = _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(b.add(2).cast()) });
        let sum128 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), q);
        Row {
            q,
            // SAFETY: as above.
            d: unsafe { f16_splat(b) },
            neg: _mm512_sub_epi32(_mm512_setzero_si512(), sum128),
            m: 0.0,
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i {
        // Σ (x + 128) q − 128 Σ q = Σ x q: `vpdpbusd` wants its first operand unsigned.
        _mm512_dpbusd_epi32(r.neg, p.x, r.q)
    }
}

impl Format for Q4_1 {
    const WB: usize = q4_1::BLOCK_BYTES;
    const XB: usize = q8_1::BLOCK_BYTES;
    const X_AT: usize = 4;
    const HAS_MIN: bool = true;
    const OFFSET: i8 = 0;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn row(b: *const u8) -> Row {
        // SAFETY: a Q4_1 block is d, m (2 bytes each) then 16 bytes of nibbles.
        unsafe {
            Row {
                q: nibbles2(b.add(4)),
                d: f16_splat(b),
                neg: _mm512_setzero_si512(),
                m: f16_at(b.add(2)),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i {
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), r.q, p.x)
    }
}

impl Format for Q5_1 {
    const WB: usize = q5_1::BLOCK_BYTES;
    const XB: usize = q8_1::BLOCK_BYTES;
    const X_AT: usize = 4;
    const HAS_MIN: bool = true;
    const OFFSET: i8 = 0;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn row(b: *const u8) -> Row {
        // SAFETY: a Q5_1 block is d, m (2 bytes each), the fifth bits (4), 16 bytes of
        // nibbles.
        unsafe {
            Row {
                q: _mm512_or_si512(nibbles2(b.add(8)), fifth_bits2(b.add(4))),
                d: f16_splat(b),
                neg: _mm512_setzero_si512(),
                m: f16_at(b.add(2)),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ints(r: &Row, p: &Pair) -> __m512i {
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), r.q, p.x)
    }
}

/// The tile loop shared by every format.
///
/// # Safety
/// `w` holds [`TILE_ROWS`] rows `row_bytes` apart and `x` [`TILE_TOKENS`] rows
/// `q_bytes` apart, each of `blocks` blocks (checked by [`run`]); AVX-512 F/BW/VL/VNNI,
/// AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tile<F: Format>(
    w: *const u8,
    row_bytes: usize,
    x: *const u8,
    q_bytes: usize,
    blocks: usize,
    out: &mut Tile,
) {
    let mut acc = [[_mm512_setzero_ps(); PAIRS]; TILE_ROWS];
    // Lane t: Σ m_w · s_x of token t, in the kernel's order (Q4_1/Q5_1).
    let mut mins = [_mm_setzero_ps(); TILE_ROWS];
    // Token 2j's scale in the low 8 lanes, 2j + 1's in the high 8.
    let halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    let flip = _mm512_set1_epi8(-128);
    let offset = _mm512_set1_epi8(F::OFFSET);
    for b in 0..blocks {
        let mut pairs = [Pair {
            x: _mm512_setzero_si512(),
            d: _mm512_setzero_ps(),
            neg: _mm512_setzero_si512(),
        }; PAIRS];
        for (j, pair) in pairs.iter_mut().enumerate() {
            // SAFETY: tokens 2j and 2j + 1 have block `b` (caller's contract).
            let (x0, x1) = unsafe {
                (
                    x.add(2 * j * q_bytes + b * F::XB),
                    x.add((2 * j + 1) * q_bytes + b * F::XB),
                )
            };
            // SAFETY: each activation block is its scale then 32 bytes at X_AT.
            let v = unsafe {
                _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_loadu_si256(x0.add(F::X_AT).cast())),
                    _mm256_loadu_si256(x1.add(F::X_AT).cast()),
                )
            };
            // SAFETY: both blocks start with their f16 scale.
            let ds = unsafe {
                let bits = x0.cast::<u16>().read_unaligned() as i32
                    | (x1.cast::<u16>().read_unaligned() as i32) << 16;
                _mm_cvtph_ps(_mm_cvtsi32_si128(bits))
            };
            pair.d = _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(ds));
            if F::FLIP_X {
                pair.x = _mm512_xor_si512(v, flip);
            } else {
                pair.x = v;
                if F::OFFSET != 0 {
                    let sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, v);
                    pair.neg = _mm512_sub_epi32(_mm512_setzero_si512(), sum);
                }
            }
        }
        let sums = if F::HAS_MIN {
            // SAFETY: Q8_1 blocks hold s (f16) at byte 2; 4 tokens (caller's contract).
            unsafe {
                let s = |t: usize| {
                    x.add(t * q_bytes + b * F::XB + 2)
                        .cast::<u16>()
                        .read_unaligned() as u64
                };
                _mm_cvtph_ps(_mm_cvtsi64_si128(
                    (s(0) | s(1) << 16 | s(2) << 32 | s(3) << 48) as i64,
                ))
            }
        } else {
            _mm_setzero_ps()
        };
        for (r, (acc, mins)) in acc.iter_mut().zip(mins.iter_mut()).enumerate() {
            // SAFETY: row r has block `b` (caller's contract).
            let row = unsafe { F::row(w.add(r * row_bytes + b * F::WB)) };
            for (acc, pair) in acc.iter_mut().zip(&pairs) {
                // SAFETY: features checked by the caller.
                let p = _mm512_cvtepi32_ps(unsafe { F::ints(&row, pair) });
                *acc = _mm512_fmadd_ps(_mm512_mul_ps(row.d, pair.d), p, *acc);
            }
            if F::HAS_MIN {
                *mins = _mm_add_ps(*mins, _mm_mul_ps(_mm_set1_ps(row.m), sums));
            }
        }
    }
    for ((out, acc), mins) in out.iter_mut().zip(&acc).zip(&mins) {
        let mut m = [0f32; 4];
        // SAFETY: `m` has room for 4 lanes.
        unsafe { _mm_storeu_ps(m.as_mut_ptr(), *mins) };
        for (j, acc) in acc.iter().enumerate() {
            let lo = _mm512_castps512_ps256(*acc);
            let hi = _mm512_extractf32x8_ps::<1>(*acc);
            out[2 * j] = hsum(lo) + m[2 * j];
            out[2 * j + 1] = hsum(hi) + m[2 * j + 1];
        }
    }
}

/// Checks the extents, then runs the tile of format `F`.
///
/// # Safety
/// AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn run<F: Format>(w: &[u8], row_bytes: usize, x: &[u8], q_bytes: usize, out: &mut Tile) {
    let blocks = row_bytes / F::WB;
    assert!(blocks * F::WB == row_bytes && blocks * F::XB <= q_bytes);
    assert!(w.len() >= (TILE_ROWS - 1) * row_bytes + row_bytes);
    assert!(x.len() >= (TILE_TOKENS - 1) * q_bytes + blocks * F::XB);
    // SAFETY: extents checked above; features by the caller.
    unsafe { tile::<F>(w.as_ptr(), row_bytes, x.as_ptr(), q_bytes, blocks, out) }
}

/// Generates the safe dispatch-table entries.
macro_rules! tiles {
    ($($name:ident => $format:ty,)*) => {$(
        pub(crate) fn $name(w: &[u8], row_bytes: usize, x: &[u8], q_bytes: usize, out: &mut Tile) {
            // SAFETY: installed only after `x86::upgrade` detected AVX-512 F, BW, VL
            // and VNNI next to AVX2, FMA and F16C.
            unsafe { run::<$format>(w, row_bytes, x, q_bytes, out) }
        }
    )*};
}

tiles! {
    tile_q4_0_q8_0 => Q4_0,
    tile_q5_0_q8_0 => Q5_0,
    tile_q8_0_q8_0 => Q8_0,
    tile_q4_1_q8_1 => Q4_1,
    tile_q5_1_q8_1 => Q5_1,
}
