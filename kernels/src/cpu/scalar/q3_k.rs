//! Q3_K x Q8_K, ggml's per-block formula: `d_w*d_x * Σ_g scale_g * dot_g`.

use super::{dot_i8, q8k_d};
use crate::quant::float::read_f16;
use crate::quant::q3_k::{scales, unpack, BLOCK_BYTES, D};
use crate::quant::{q8_k, QK_K};

pub(crate) fn vec_dot_q3_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        unpack(bw, &mut q);
        let sc = scales(bw);
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let mut sumi = 0i32;
        for g in 0..QK_K / 16 {
            sumi += sc[g] as i32 * dot_i8(&q[16 * g..16 * g + 16], &y[16 * g..16 * g + 16]);
        }
        sumf += read_f16(bw, D) * q8k_d(bx) * sumi as f32;
    }
    sumf
}
