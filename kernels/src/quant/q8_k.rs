//! Q8_K: super-blocks of 256, `d: f32`, 256 `i8` quants, then 16 `i16` sums of
//! each group of 16 quants. The activation format ggml pairs with every K-quant;
//! the group sums let the K-quants apply their per-group minimums cheaply.

use super::QK_K;

pub const BLOCK_BYTES: usize = 4 + QK_K + QK_K / 16 * 2;
/// Offsets of the fields inside a block.
pub const QS: usize = 4;
pub const BSUMS: usize = 4 + QK_K;

/// ggml's `nearest_int`: round half to even via the 1.5 * 2^23 trick (valid for
/// |x| < 2^22, which the callers guarantee).
#[inline(always)]
pub(crate) fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            // ggml leaves bsums unwritten here; zero is the only sensible value.
            b.fill(0);
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b[QS..BSUMS].iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8 as u8;
        }
        for g in 0..QK_K / 16 {
            let s: i32 = b[QS + 16 * g..QS + 16 * (g + 1)]
                .iter()
                .map(|&q| q as i8 as i32)
                .sum();
            b[BSUMS + 2 * g..BSUMS + 2 * g + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        b[..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src
        .chunks_exact(BLOCK_BYTES)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        for (y, &q) in y.iter_mut().zip(&b[QS..BSUMS]) {
            *y = d * (q as i8) as f32;
        }
    }
}
