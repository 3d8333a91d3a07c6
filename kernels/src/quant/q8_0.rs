//! Q8_0: blocks of 32 weights, `d: f16` then 32 `i8` quants; an element is `d * q`.
//! ggml also uses it to quantize activations for Q4_0/Q5_0/Q8_0 weights.

use super::float::{f32_to_f16, read_f16};

pub const QK: usize = 32;
pub const BLOCK_BYTES: usize = 2 + QK;

/// Largest magnitude in a block, as ggml's `MAX(amax, fabsf(v))` loop finds it.
#[inline]
pub(crate) fn absmax(x: &[f32]) -> f32 {
    x.iter()
        .fold(0.0f32, |a, &v| if a > v.abs() { a } else { v.abs() })
}

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(BLOCK_BYTES)) {
        let d = absmax(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        for (q, &v) in b[2..].iter_mut().zip(x) {
            // f32::round is C's roundf: halves away from zero.
            *q = (v * id).round() as i8 as u8;
        }
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(BLOCK_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = read_f16(b, 0);
        for (y, &q) in y.iter_mut().zip(&b[2..]) {
            *y = (q as i8) as f32 * d;
        }
    }
}
