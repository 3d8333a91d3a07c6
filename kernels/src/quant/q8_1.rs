//! Q8_1: blocks of 32, `d: f16`, `s: f16` (= d * sum of the quants), then 32 `i8`
//! quants. An activation format: ggml quantizes activations to it for Q4_1/Q5_1
//! weights, and the `s` term carries those formats' offset `m` through the dot.

use super::float::{f32_to_f16, read_f16};
use super::q8_0::absmax;

pub const QK: usize = 32;
pub const BLOCK_BYTES: usize = 4 + QK;

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(BLOCK_BYTES)) {
        let d = absmax(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b[4..].iter_mut().zip(x) {
            let v = (v * id).round() as i8;
            *q = v as u8;
            sum += v as i32;
        }
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        // ggml multiplies by the unrounded f32 `d` here.
        b[2..4].copy_from_slice(&f32_to_f16(sum as f32 * d).to_le_bytes());
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(BLOCK_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = read_f16(b, 0);
        for (y, &q) in y.iter_mut().zip(&b[4..]) {
            *y = (q as i8) as f32 * d;
        }
    }
}
