//! Q4_0 x Q8_0, Q4_1 x Q8_1, Q8_0 x Q8_0 two 32-value blocks a step (block A in the
//! low 256 bits, B in the high), and f16 x f16 sixteen values a lane.

use std::arch::x86_64::*;

use super::{halves_ps, join, load16, load32, read_f16};
use crate::cpu::x86::avx2;
use crate::quant::{q4_0, q4_1, q8_0, q8_1};

/// The nibbles of two 16-byte runs `a` and `b` in ggml's element order: low
/// nibbles of `a`, high nibbles of `a`, then the same for `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn nibbles2(a: &[u8], b: &[u8]) -> __m512i {
    let v = join(
        _mm256_broadcastsi128_si256(load16(a)),
        _mm256_broadcastsi128_si256(load16(b)),
    );
    // Shift the second copy of each run right by 4 (128-bit units 1 and 3).
    let by4 = 0x0004_0004_0004_0004i64;
    let shifts = _mm512_set_epi64(by4, by4, 0, 0, by4, by4, 0, 0);
    _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(0x0f))
}

/// The 32 quants at `bx[off..]` of this block and the next, as one register.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn quants2(b: &[u8], off: usize, stride: usize) -> __m512i {
    join(load32(&b[off..]), load32(&b[stride + off..]))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    const B: usize = q8_0::BLOCK_BYTES;
    let (wp, xp) = (w.chunks_exact(2 * B), x.chunks_exact(2 * B));
    let (wr, xr) = (wp.remainder(), xp.remainder());
    let zero = _mm512_setzero_si512();
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in wp.zip(xp) {
        let (qw, qx) = (quants2(bw, 2, B), quants2(bx, 2, B));
        // |w| * (x with w's sign): vpdpbusd wants its first operand unsigned.
        let neg = _mm512_movepi8_mask(qw);
        let sx = _mm512_mask_sub_epi8(qx, neg, zero, qx);
        let p = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(qw), sx);
        let d = halves_ps(
            read_f16(bw, 0) * read_f16(bx, 0),
            read_f16(bw, B) * read_f16(bx, B),
        );
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    _mm512_reduce_add_ps(acc) + avx2::vec_dot_q8_0_q8_0(wr, xr)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    const BW: usize = q4_0::BLOCK_BYTES;
    const BX: usize = q8_0::BLOCK_BYTES;
    let (wp, xp) = (w.chunks_exact(2 * BW), x.chunks_exact(2 * BX));
    let (wr, xr) = (wp.remainder(), xp.remainder());
    let zero = _mm512_setzero_si512();
    let eight = _mm512_set1_epi8(8);
    let mut acc = _mm512_setzero_ps();
    for (bw, bx) in wp.zip(xp) {
        let qx = quants2(bx, 2, BX);
        // Σ (q - 8) * x = Σ q * x - Σ 8 * x, both as unsigned-by-signed byte dots.
        let p = _mm512_sub_epi32(
            _mm512_dpbusd_epi32(zero, nibbles2(&bw[2..], &bw[BW + 2..]), qx),
            _mm512_dpbusd_epi32(zero, eight, qx),
        );
        let d = halves_ps(
            read_f16(bw, 0) * read_f16(bx, 0),
            read_f16(bw, BW) * read_f16(bx, BX),
        );
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    _mm512_reduce_add_ps(acc) + avx2::vec_dot_q4_0_q8_0(wr, xr)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    const BW: usize = q4_1::BLOCK_BYTES;
    const BX: usize = q8_1::BLOCK_BYTES;
    let (wp, xp) = (w.chunks_exact(2 * BW), x.chunks_exact(2 * BX));
    let (wr, xr) = (wp.remainder(), xp.remainder());
    let zero = _mm512_setzero_si512();
    let mut acc = _mm512_setzero_ps();
    let mut mins = 0f32;
    for (bw, bx) in wp.zip(xp) {
        let p = _mm512_dpbusd_epi32(zero, nibbles2(&bw[4..], &bw[BW + 4..]), quants2(bx, 4, BX));
        let d = halves_ps(
            read_f16(bw, 0) * read_f16(bx, 0),
            read_f16(bw, BW) * read_f16(bx, BX),
        );
        mins += read_f16(bw, 2) * read_f16(bx, 2) + read_f16(bw, BW + 2) * read_f16(bx, BX + 2);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    _mm512_reduce_add_ps(acc) + mins + avx2::vec_dot_q4_1_q8_1(wr, xr)
}

/// Rows of little-endian f16 values (2 bytes each).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn f16_f16(w: &[u8], x: &[u8]) -> f32 {
    const STEP: usize = 128; // bytes: 4 registers of 16 values
    let n = w.len().min(x.len());
    let (wc, xc) = (w[..n].chunks_exact(STEP), x[..n].chunks_exact(STEP));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    let mut acc = [_mm512_setzero_ps(); 4];
    for (a, b) in wc.zip(xc) {
        for (k, lane) in acc.iter_mut().enumerate() {
            let va = _mm512_cvtph_ps(load32(&a[32 * k..]));
            let vb = _mm512_cvtph_ps(load32(&b[32 * k..]));
            *lane = _mm512_fmadd_ps(va, vb, *lane);
        }
    }
    let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(sum) + avx2::vec_dot_f16_f16(wr, xr)
}
