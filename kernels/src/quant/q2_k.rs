//! Q2_K: super-blocks of 256 = 16 groups of 16. Layout: `scales[16]` (low nibble
//! scale, high nibble min, per group), `qs[64]` (2-bit quants), `d: f16`,
//! `dmin: f16`. Element `e` (h = e/128, s = (e/32)%4, l = e%32) is bits `2s..2s+2`
//! of `qs[32h + l]`; its value is `d*(sc&15)*q - dmin*(sc>>4)` with `sc = scales[e/16]`.

use super::float::read_f16;
use super::QK_K;

pub const BLOCK_BYTES: usize = QK_K / 16 + QK_K / 4 + 4;
pub const SCALES: usize = 0;
pub const QS: usize = QK_K / 16;
pub const D: usize = QS + QK_K / 4;

/// The 256 quants (0..=3) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for (e, q) in q.iter_mut().enumerate() {
        let (h, s, l) = (e / 128, (e / 32) % 4, e % 32);
        *q = ((b[QS + 32 * h + l] >> (2 * s)) & 3) as i8;
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    let mut q = [0i8; QK_K];
    for (b, y) in src
        .chunks_exact(BLOCK_BYTES)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, D);
        let dmin = read_f16(b, D + 2);
        unpack(b, &mut q);
        for g in 0..QK_K / 16 {
            let sc = b[SCALES + g];
            let dl = d * (sc & 0x0f) as f32;
            let ml = dmin * (sc >> 4) as f32;
            for l in 0..16 {
                y[16 * g + l] = dl * q[16 * g + l] as f32 - ml;
            }
        }
    }
}
