//! Q5_1: blocks of 32 weights, `d: f16`, `m: f16`, `qh: u32` (fifth bits), then 16
//! bytes of low nibbles (element `j` low, `j + 16` high); an element is `d * q + m`.

use super::float::{f32_to_f16, read_f16};
use super::q4_1::min_max;
use super::q5_0::{read_u32, unpack5};

pub const QK: usize = 32;
pub const BLOCK_BYTES: usize = 2 + 2 + 4 + QK / 2;

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(BLOCK_BYTES)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        b[2..4].copy_from_slice(&f32_to_f16(min).to_le_bytes());
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(31) as u8;
            let q1 = (((x[j + QK / 2] - min) * id + 0.5) as i8).min(31) as u8;
            b[8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
            qh |= ((q0 as u32 >> 4) & 1) << j;
            qh |= ((q1 as u32 >> 4) & 1) << (j + QK / 2);
        }
        b[4..8].copy_from_slice(&qh.to_le_bytes());
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(BLOCK_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = read_f16(b, 0);
        let m = read_f16(b, 2);
        let q = unpack5(read_u32(b, 4), &b[8..]);
        for (y, &q) in y.iter_mut().zip(q.iter()) {
            *y = q as f32 * d + m;
        }
    }
}
