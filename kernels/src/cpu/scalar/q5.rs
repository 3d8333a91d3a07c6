//! Q5_0 x Q8_0 and Q5_1 x Q8_1, ggml's per-block formulas:
//! Q5_0: `(d_w * d_x) * sumi`; Q5_1: `(d_w * d_x) * sumi + m_w * s_x`.

use crate::quant::float::read_f16;
use crate::quant::{q5_0, q5_1, q8_0, q8_1};

/// The 32 five-bit quants of a block minus `offset`.
#[inline(always)]
fn quants(qh: &[u8], qs: &[u8], offset: i8) -> [i8; 32] {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let mut q = [0i8; 32];
    for j in 0..16 {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        q[j] = ((qs[j] & 0x0f) | (h0 << 4)) as i8 - offset;
        q[j + 16] = ((qs[j] >> 4) | (h1 << 4)) as i8 - offset;
    }
    q
}

pub(crate) fn vec_dot_q5_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q5_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
    {
        let q = quants(&bw[2..6], &bw[6..22], 16);
        let sumi = super::dot_i8(&q, &bx[2..34]);
        sumf += (read_f16(bw, 0) * read_f16(bx, 0)) * sumi as f32;
    }
    sumf
}

pub(crate) fn vec_dot_q5_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q5_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let q = quants(&bw[4..8], &bw[8..24], 0);
        let sumi = super::dot_i8(&q, &bx[4..36]);
        sumf +=
            (read_f16(bw, 0) * read_f16(bx, 0)) * sumi as f32 + read_f16(bw, 2) * read_f16(bx, 2);
    }
    sumf
}
