//! Q8_0 x Q8_0, ggml's per-block formula: `sumi * (d_w * d_x)`.

use crate::quant::float::read_f16;
use crate::quant::q8_0::BLOCK_BYTES;

pub(crate) fn vec_dot_q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w.chunks_exact(BLOCK_BYTES).zip(x.chunks_exact(BLOCK_BYTES)) {
        let sumi: i32 = bw[2..34]
            .iter()
            .zip(&bx[2..34])
            .map(|(&a, &b)| (a as i8) as i32 * (b as i8) as i32)
            .sum();
        sumf += sumi as f32 * (read_f16(bw, 0) * read_f16(bx, 0));
    }
    sumf
}
