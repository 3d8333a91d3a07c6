//! Q4_K x Q8_K, ggml's per-block formula:
//! `d_w*d_x * Σ_g sc_g * dot_g  -  dmin_w*d_x * Σ_g m_g * (bsum_2g + bsum_2g+1)`.

use super::{dot_i8, q8k_bsum, q8k_d};
use crate::quant::float::read_f16;
use crate::quant::q4_k::{scale_min, unpack, BLOCK_BYTES, SCALES};
use crate::quant::{q8_k, QK_K};

pub(crate) fn vec_dot_q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
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

/// The per-block sum shared by Q4_K and Q5_K (8 groups of 32, six-bit scales and
/// mins, `d` and `dmin` as the first two f16 fields).
#[inline(always)]
pub(super) fn sum_8x32(bw: &[u8], scales: &[u8], q: &[i8; QK_K], bx: &[u8]) -> f32 {
    let y = &bx[q8_k::QS..q8_k::BSUMS];
    let (mut sumi, mut summ) = (0i32, 0i32);
    for g in 0..QK_K / 32 {
        let (sc, m) = scale_min(scales, g);
        sumi += sc as i32 * dot_i8(&q[32 * g..32 * g + 32], &y[32 * g..32 * g + 32]);
        summ += m as i32 * (q8k_bsum(bx, 2 * g) + q8k_bsum(bx, 2 * g + 1));
    }
    let yd = q8k_d(bx);
    read_f16(bw, 0) * yd * sumi as f32 - read_f16(bw, 2) * yd * summ as f32
}
