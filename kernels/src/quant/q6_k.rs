//! Q6_K: super-blocks of 256 = 16 groups of 16. Layout: `ql[128]` (low nibbles),
//! `qh[64]` (top two bits), `scales[16]: i8`, `d: f16`. Element `e` (h = e/128,
//! k = (e/64)%2, s = (e/32)%4, l = e%32): nibble `k` of `ql[64h + e%64]`, bits
//! `2s..2s+2` of `qh[32h + l]`; quant minus 32, times `d * scales[e/16]`.

use super::float::read_f16;
use super::QK_K;

pub const BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
pub const QL: usize = 0;
pub const QH: usize = QK_K / 2;
pub const SCALES: usize = QH + QK_K / 4;
pub const D: usize = SCALES + QK_K / 16;

/// The 256 quants (-32..=31) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for (e, q) in q.iter_mut().enumerate() {
        let (h, k, s, l) = (e / 128, (e / 64) % 2, (e / 32) % 4, e % 32);
        let low = (b[QL + 64 * h + e % 64] >> (4 * k)) & 0x0f;
        let high = (b[QH + 32 * h + l] >> (2 * s)) & 3;
        *q = (low | (high << 4)) as i8 - 32;
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    let mut q = [0i8; QK_K];
    for (b, y) in src
        .chunks_exact(BLOCK_BYTES)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, D);
        unpack(b, &mut q);
        for g in 0..QK_K / 16 {
            let dl = d * (b[SCALES + g] as i8) as f32;
            for l in 0..16 {
                y[16 * g + l] = dl * q[16 * g + l] as f32;
            }
        }
    }
}
