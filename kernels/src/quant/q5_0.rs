//! Q5_0: blocks of 32 weights, `d: f16`, `qh: u32` (bit `j` = fifth bit of element
//! `j`), then 16 bytes of low nibbles (element `j` low, `j + 16` high); an element
//! is `d * (q - 16)`.

use super::float::{f32_to_f16, read_f16};
use super::q4_0::signed_absmax;

pub const QK: usize = 32;
pub const BLOCK_BYTES: usize = 2 + 4 + QK / 2;

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(BLOCK_BYTES)) {
        let d = signed_absmax(x) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = ((x[j] * id + 16.5) as i8).min(31) as u8;
            let q1 = ((x[j + QK / 2] * id + 16.5) as i8).min(31) as u8;
            b[6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
            qh |= ((q0 as u32 >> 4) & 1) << j;
            qh |= ((q1 as u32 >> 4) & 1) << (j + QK / 2);
        }
        b[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

/// The 32 quants of a Q5_0/Q5_1 block as 0..=31, from `qh` and the nibbles.
#[inline(always)]
pub(crate) fn unpack5(qh: u32, qs: &[u8]) -> [u8; QK] {
    let mut q = [0u8; QK];
    for j in 0..QK / 2 {
        q[j] = (qs[j] & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
        q[j + QK / 2] = (qs[j] >> 4) | ((((qh >> (j + QK / 2)) & 1) as u8) << 4);
    }
    q
}

#[inline(always)]
pub(crate) fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(BLOCK_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = read_f16(b, 0);
        let q = unpack5(read_u32(b, 2), &b[6..]);
        for (y, &q) in y.iter_mut().zip(q.iter()) {
            *y = (q as i32 - 16) as f32 * d;
        }
    }
}
