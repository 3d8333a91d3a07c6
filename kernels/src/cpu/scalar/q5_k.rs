//! Q5_K x Q8_K: the Q4_K formula over five-bit quants.

use super::q4_k::sum_8x32;
use crate::quant::q5_k::{unpack, BLOCK_BYTES, SCALES};
use crate::quant::{q8_k, QK_K};

pub(crate) fn vec_dot_q5_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(BLOCK_BYTES)
        .zip(x.chunks_exact(q8_k::BLOCK_BYTES))
    {
        unpack(bw, &mut q);
        sumf += sum_8x32(bw, &bw[SCALES..SCALES + 12], &q, bx);
    }
    sumf
}
