//! Q2_K x Q8_K, ggml's per-block formula:
//! `d_x*d_w * Σ_g (sc_g & 15) * dot_g  -  d_x*dmin_w * Σ_g (sc_g >> 4) * bsum_g`.

use super::{dot_i8, q8k_bsum, q8k_d};
use crate::quant::float::read_f16;
use crate::quant::q2_k::{unpack, BLOCK_BYTES, D, SCALES};
use crate::quant::{q8_k, QK_K};

pub(crate) fn vec_dot_q2_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        unpack(bw, &mut q);
        let y = &bx[q8_k::QS..q8_k::BSUMS];
        let (mut isum, mut summs) = (0i32, 0i32);
        for g in 0..QK_K / 16 {
            let sc = bw[SCALES + g];
            isum += (sc & 0x0f) as i32 * dot_i8(&q[16 * g..16 * g + 16], &y[16 * g..16 * g + 16]);
            summs += (sc >> 4) as i32 * q8k_bsum(bx, g);
        }
        let yd = q8k_d(bx);
        let dall = yd * read_f16(bw, D);
        let dmin = yd * read_f16(bw, D + 2);
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}
