//! AVX2 matrix tiles for the 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0):
//! [`TILE_ROWS`] weight rows times up to [`TILE_TOKENS`] tokens per call, prefill and
//! decode alike.
//!
//! Each block of a (row, token) pair is summed in integers first (exact, so the order
//! of the integer adds does not matter), then taken to f32 by one fused multiply-add,
//! `acc = fma(sumi, d_w · d_x, acc)`, plus `acc = fma(m_w, s_x, acc)` for Q4_1/Q5_1:
//! the formula of the `fused` dot kernels, which the outputs equal bit for bit. One
//! f32 lane per output leaves no horizontal float sums at the end, and 4 rows × 8
//! tokens fit four 256-bit accumulators (AVX2 has 16 registers, too few for the
//! 8-lane accumulator per output that the plain dot kernels keep).
//!
//! A row's block is unpacked once, its 32 values as bytes in ggml order (values
//! 0..16 in the low 128-bit half, 16..32 in the high one). `vpshufd` broadcasts
//! values 4k..4k + 4 over the low half and 4k + 16.. over the high half, and
//! `vpmaddubsw` multiplies them with four tokens' same values, which the activations
//! hold interleaved (`prepared.rs`): lane (half, token) gathers half a block, and
//! the two halves are added once per block. One token (decode) instead dots each
//! row's 32 values with the token's, four rows reduced together by `vphaddd`.

use std::arch::x86_64::*;

use super::bit_bytes;
use crate::cpu::dispatch::{Tile, TILE_ROWS, TILE_TOKENS};
use crate::cpu::prefetch;
use crate::cpu::prepared::{group, prepare};
use crate::quant::float::f16_to_f32;
use crate::quant::{q4_0, q4_1, q5_0, q5_1, q8_0, q8_1};

/// Prepared bytes per token and block: the 32 values (interleaved), the scale as
/// f32, then the extra: `−offset · Σ x` as i32 (Q8_0 activations) or the Q8_1 sum
/// `s_x` as f32.
pub(crate) const PREPARED: usize = 32 + 4 + 4;

/// Tokens per 128-bit half: one per 32-bit lane.
const QUAD: usize = 4;

/// How one weight format reads its blocks; the tile loop and the dot are shared.
pub(super) trait Format {
    /// Bytes of a weight block.
    const WB: usize;
    /// The stored values are `q − OFFSET` (Q4_0: 8, Q5_0: 16); the tile multiplies
    /// `q` and adds the token's prepared `−OFFSET · Σ x`.
    const OFFSET: i32;
    /// Signed values (Q8_0): multiplied as `|q| · (x with q's sign)`, as
    /// `vpmaddubsw` wants its first operand unsigned.
    const SIGNED: bool = false;
    /// Q8_1 activations, and the weight block's f16 min `m_w` at byte `MIN_AT`.
    const Q8_1: bool = false;
    const MIN_AT: usize = 2;

    /// The block's 32 values `q` as bytes, values 0..16 in the low half.
    ///
    /// # Safety
    /// `blk` points at a whole weight block; AVX2 present.
    unsafe fn values(blk: *const u8) -> __m256i;
}

pub(super) struct Q4_0;
pub(super) struct Q4_1;
pub(super) struct Q5_0;
pub(super) struct Q5_1;
pub(super) struct Q8_0;

/// The 32 nibbles of the 16 bytes at `p`: low nibbles (values 0..16) in the low half.
///
/// # Safety
/// 16 readable bytes at `p`; AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes; no alignment needed.
    let v = unsafe { _mm_loadu_si128(p.cast()) };
    let mask = _mm_set1_epi8(0x0f);
    let lo = _mm_and_si128(v, mask);
    let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
    _mm256_set_m128i(hi, lo)
}

/// 0x10 in byte `i` where bit `i` of the u32 at `p` is set: the fifth bits.
///
/// # Safety
/// 4 readable bytes at `p`; AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fifth_bits(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes.
    let bits = unsafe { p.cast::<u32>().read_unaligned() };
    _mm256_and_si256(bit_bytes(bits), _mm256_set1_epi8(0x10))
}

impl Format for Q4_0 {
    const WB: usize = q4_0::BLOCK_BYTES;
    const OFFSET: i32 = 8;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(blk: *const u8) -> __m256i {
        // SAFETY: d (2 bytes) then 16 bytes of nibbles.
        unsafe { nibbles(blk.add(2)) }
    }
}

impl Format for Q4_1 {
    const WB: usize = q4_1::BLOCK_BYTES;
    const OFFSET: i32 = 0;
    const Q8_1: bool = true;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(blk: *const u8) -> __m256i {
        // SAFETY: d, m (2 bytes each) then 16 bytes of nibbles.
        unsafe { nibbles(blk.add(4)) }
    }
}

impl Format for Q5_0 {
    const WB: usize = q5_0::BLOCK_BYTES;
    const OFFSET: i32 = 16;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(blk: *const u8) -> __m256i {
        // SAFETY: d (2 bytes), the fifth bits (4), 16 bytes of nibbles.
        unsafe { _mm256_or_si256(nibbles(blk.add(6)), fifth_bits(blk.add(2))) }
    }
}

impl Format for Q5_1 {
    const WB: usize = q5_1::BLOCK_BYTES;
    const OFFSET: i32 = 0;
    const Q8_1: bool = true;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(blk: *const u8) -> __m256i {
        // SAFETY: d, m (2 bytes each), the fifth bits (4), 16 bytes of nibbles.
        unsafe { _mm256_or_si256(nibbles(blk.add(8)), fifth_bits(blk.add(4))) }
    }
}

impl Format for Q8_0 {
    const WB: usize = q8_0::BLOCK_BYTES;
    const OFFSET: i32 = 0;
    const SIGNED: bool = true;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn values(blk: *const u8) -> __m256i {
        // SAFETY: d (2 bytes) then 32 signed bytes.
        unsafe { _mm256_loadu_si256(blk.add(2).cast()) }
    }
}

/// Σ over 32-bit lanes of `q · x` (four byte pairs each), `q` the weight values
/// (unsigned, or signed with `signed`) and `x` the tokens'.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn products(q: __m256i, x: __m256i, signed: bool) -> __m256i {
    let ones = _mm256_set1_epi16(1);
    if signed {
        let p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
        _mm256_madd_epi16(p, ones)
    } else {
        _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), ones)
    }
}

/// The f16 at `p` as f32 in every lane.
///
/// # Safety
/// 2 readable bytes at `p`; F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn splat_f16(p: *const u8) -> __m256 {
    // SAFETY: the caller guarantees 2 readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// The f16s at offset `at` of the four rows' block `b`, as f32.
///
/// # Safety
/// Each row holds block `b`; F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn four_f16(w: *const u8, row_bytes: usize, at: usize) -> __m128 {
    // SAFETY: forwarded from the caller.
    let bits = |r: usize| unsafe { w.add(r * row_bytes + at).cast::<u16>().read_unaligned() };
    let packed = bits(0) as u64 | (bits(1) as u64) << 16 | (bits(2) as u64) << 32;
    _mm_cvtph_ps(_mm_cvtsi64_si128((packed | (bits(3) as u64) << 48) as i64))
}

/// One token (decode; the group holds only it, so its values are in order): the four
/// rows' block sums `sumi` in one register, added to `acc` by the block formula.
///
/// # Safety
/// Each row holds block `b`, and `base` is the token's prepared block; AVX2, FMA and
/// F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn decode_block<F: Format>(
    w: *const u8,
    row_bytes: usize,
    b: usize,
    base: *const u8,
    acc: __m128,
) -> __m128 {
    // SAFETY (loads): the token's 32 values, scale and extra; each row's block `b`.
    let (x, dx, extra) = unsafe {
        (
            _mm256_loadu_si256(base.cast()),
            _mm_set1_ps(base.add(32).cast::<f32>().read_unaligned()),
            base.add(36),
        )
    };
    let mut v = [_mm256_setzero_si256(); TILE_ROWS];
    for (r, v) in v.iter_mut().enumerate() {
        // SAFETY: row r holds block `b`.
        *v = products(
            unsafe { F::values(w.add(r * row_bytes + b * F::WB)) },
            x,
            F::SIGNED,
        );
    }
    // Lanes r (low half) and 4 + r (high half): row r's two half sums.
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    let mut sumi = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    if F::OFFSET != 0 {
        // SAFETY: the token's i32 correction.
        let offset = unsafe { extra.cast::<i32>().read_unaligned() };
        sumi = _mm_add_epi32(sumi, _mm_set1_epi32(offset));
    }
    // SAFETY: each row's block `b` starts with d_w.
    let dw = unsafe { four_f16(w.add(b * F::WB), row_bytes, 0) };
    let acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sumi), _mm_mul_ps(dw, dx), acc);
    if F::Q8_1 {
        // SAFETY: each row's block holds m_w at MIN_AT; the token's f32 sum.
        let (mw, sx) = unsafe {
            (
                four_f16(w.add(b * F::WB), row_bytes, F::MIN_AT),
                _mm_set1_ps(extra.cast::<f32>().read_unaligned()),
            )
        };
        return _mm_fmadd_ps(mw, sx, acc);
    }
    acc
}

/// Row `q`'s half-block sums with the quad of tokens in `x` (indexed by the group
/// of values k): lane (half h, token t) = Σ over values 4k + 16h..4k + 16h + 4.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quad_sums<F: Format>(q: &[__m256i; 4], aq: &[__m256i; 4], x: &[__m256i; 4]) -> __m256i {
    if F::SIGNED {
        // A pair of products reaches 2 · 127², so each group goes to i32 at once.
        let mut s = _mm256_setzero_si256();
        for k in 0..4 {
            let p = _mm256_maddubs_epi16(aq[k], _mm256_sign_epi8(x[k], q[k]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        }
        s
    } else {
        // Unsigned values below 32: four groups of pairs stay below 4 · 2 · 31 · 128
        // = 31744, within an i16.
        let mut s = _mm256_maddubs_epi16(q[0], x[0]);
        for k in 1..4 {
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(q[k], x[k]));
        }
        _mm256_madd_epi16(s, _mm256_set1_epi16(1))
    }
}

/// The value groups of a row: `vpshufd` broadcasts of each 128-bit half.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn groups(v: __m256i) -> [__m256i; 4] {
    [
        _mm256_shuffle_epi32::<0x00>(v),
        _mm256_shuffle_epi32::<0x55>(v),
        _mm256_shuffle_epi32::<0xaa>(v),
        _mm256_shuffle_epi32::<0xff>(v),
    ]
}

/// The tile loop shared by every format.
///
/// # Safety
/// `w` holds [`TILE_ROWS`] rows `row_bytes` apart of `blocks` blocks each, and `act`
/// the prepared activations of `n ≥ t0 + C` tokens for those blocks, `t0` starting a
/// group (checked by [`run`]); AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<F: Format, const C: usize>(
    w: *const u8,
    row_bytes: usize,
    act: *const u8,
    n: usize,
    t0: usize,
    blocks: usize,
    out: &mut Tile,
) {
    const { assert!(TILE_ROWS == 4 && TILE_TOKENS == 2 * QUAD) };
    let quads = C.div_ceil(QUAD);
    let (start, m) = group(n, t0, blocks, PREPARED);
    let next = w.wrapping_add(TILE_ROWS * row_bytes);
    if m == 1 {
        let mut acc = _mm_setzero_ps();
        for b in 0..blocks {
            // The next tile's rows, contiguous after this tile's.
            prefetch::share(next, TILE_ROWS * row_bytes, blocks, b);
            // SAFETY: within the extents checked by `run`.
            acc = unsafe { decode_block::<F>(w, row_bytes, b, act.add(start + b * PREPARED), acc) };
        }
        let mut lanes = [0f32; 4];
        // SAFETY: `lanes` has room for the 4 lanes stored.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), acc) };
        for (out, v) in out.iter_mut().zip(lanes) {
            out[0] = v;
        }
        return;
    }
    // Lanes of the tile's tokens, for the masked loads of per-token values.
    let mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(C as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    let mut acc = [_mm256_setzero_ps(); TILE_ROWS];
    for b in 0..blocks {
        prefetch::share(next, TILE_ROWS * row_bytes, blocks, b);
        // SAFETY: the group's block `b`, within the extents checked by `run`.
        let base = unsafe { act.add(start + b * m * PREPARED) };
        let mut x = [[_mm256_setzero_si256(); 4]; 2];
        for (q, x) in x.iter_mut().enumerate().take(quads) {
            for (k, x) in x.iter_mut().enumerate() {
                // SAFETY: values 4j..4j + 4 of the group's m tokens are 4m bytes at
                // 4mj; a quad past the tile's tokens reads the next values or the
                // scales (unused), never past the block (m ≥ 2 here).
                let at = |j: usize| unsafe { base.add(4 * (m * j + QUAD * q)).cast() };
                // SAFETY: as above, 16 bytes at each.
                *x = unsafe { _mm256_loadu2_m128i(at(k + 4), at(k)) };
            }
        }
        // SAFETY: the scales and extras of the tile's tokens; masked lanes are not
        // read.
        let (dx, extra) = unsafe {
            (
                _mm256_maskload_ps(base.add(32 * m).cast(), mask),
                _mm256_maskload_epi32(base.add(36 * m).cast(), mask),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row r holds block `b` (extents checked by `run`).
            let blk = unsafe { w.add(r * row_bytes + b * F::WB) };
            // SAFETY: as above; features from the caller.
            let v = unsafe { F::values(blk) };
            let q = groups(v);
            let aq = if F::SIGNED {
                groups(_mm256_sign_epi8(v, v))
            } else {
                q
            };
            let lo = quad_sums::<F>(&q, &aq, &x[0]);
            // Lane t: token t's whole block (halves added).
            let mut sumi = if quads == 1 {
                _mm256_add_epi32(lo, _mm256_permute2x128_si256::<0x01>(lo, lo))
            } else {
                let hi = quad_sums::<F>(&q, &aq, &x[1]);
                _mm256_add_epi32(
                    _mm256_permute2x128_si256::<0x20>(lo, hi),
                    _mm256_permute2x128_si256::<0x31>(lo, hi),
                )
            };
            if F::OFFSET != 0 {
                sumi = _mm256_add_epi32(sumi, extra);
            }
            // SAFETY: the block starts with d_w.
            let dw = unsafe { splat_f16(blk) };
            *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_mul_ps(dw, dx), *acc);
            if F::Q8_1 {
                // SAFETY: m_w at MIN_AT.
                let mw = unsafe { splat_f16(blk.add(F::MIN_AT)) };
                *acc = _mm256_fmadd_ps(mw, _mm256_castsi256_ps(extra), *acc);
            }
        }
    }
    for (out, acc) in out.iter_mut().zip(acc) {
        let mut lanes = [0f32; TILE_TOKENS];
        // SAFETY: `lanes` has room for the 8 lanes stored.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        out[..C].copy_from_slice(&lanes[..C]);
    }
}

/// Checks the extents, then runs the tile of format `F`.
///
/// # Safety
/// AVX2, FMA and F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
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
    assert!(act.len() >= blocks * n * PREPARED);
    // SAFETY: extents checked above; features by the caller.
    unsafe { tile::<F, C>(w.as_ptr(), row_bytes, act.as_ptr(), n, t0, blocks, out) }
}

/// Q8_0 activations in the interleaved layout of `prepared.rs`, the extra being
/// `−offset · Σ x` for weights stored with `offset`.
fn prepare_q8_0(qx: &[u8], n: usize, out: &mut [u8], offset: i32) {
    prepare(
        qx,
        n,
        out,
        q8_0::BLOCK_BYTES,
        PREPARED,
        true,
        |blk, values, scale, extra| {
            let v = &blk[2..];
            values.copy_from_slice(v);
            scale.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])).to_le_bytes());
            let sum: i32 = v.iter().map(|&x| x as i8 as i32).sum();
            extra.copy_from_slice(&(-offset * sum).to_le_bytes());
        },
    )
}

pub(crate) fn prepare_for_q4_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_0(qx, n, out, Q4_0::OFFSET)
}

pub(crate) fn prepare_for_q5_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_0(qx, n, out, Q5_0::OFFSET)
}

pub(crate) fn prepare_for_q8_0(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare_q8_0(qx, n, out, 0)
}

/// Q8_1 activations interleaved: values, scale, sum.
pub(crate) fn prepare_for_q4_q5_1(qx: &[u8], n: usize, out: &mut [u8]) {
    prepare(
        qx,
        n,
        out,
        q8_1::BLOCK_BYTES,
        PREPARED,
        true,
        |blk, values, scale, sum| {
            values.copy_from_slice(&blk[4..]);
            scale.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])).to_le_bytes());
            sum.copy_from_slice(&f16_to_f32(u16::from_le_bytes([blk[2], blk[3]])).to_le_bytes());
        },
    )
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
            // SAFETY: installed only after `x86::upgrade` detected AVX2, FMA and F16C.
            unsafe { for_tokens!(tokens, run::<$format>(w, row_bytes, act, n, t0, out)) }
        }
    )*};
}

tiles! {
    tile_q4_0_q8_0 => Q4_0,
    tile_q4_1_q8_1 => Q4_1,
    tile_q5_0_q8_0 => Q5_0,
    tile_q5_1_q8_1 => Q5_1,
    tile_q8_0_q8_0 => Q8_0,
}
