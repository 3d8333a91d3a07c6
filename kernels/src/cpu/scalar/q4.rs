//! Q4_0 x Q8_0 and Q4_1 x Q8_1, ggml's per-block formulas:
//! Q4_0: `sumi * d_w * d_x`; Q4_1: `(d_w * d_x) * sumi + m_w * s_x`.

use crate::quant::float::read_f16;
use crate::quant::{q4_0, q4_1, q8_0, q8_1};

/// The 32 nibbles of a block (element j low, j + 16 high), minus `offset`.
#[inline(always)]
fn nibbles(qs: &[u8], offset: i8) -> [i8; 32] {
    let mut q = [0i8; 32];
    for j in 0..16 {
        q[j] = (qs[j] & 0x0f) as i8 - offset;
        q[j + 16] = (qs[j] >> 4) as i8 - offset;
    }
    q
}

/// Per Q4_0 block: the integer sum and both scales, for the two per-block formulas.
fn q4_0_blocks<'a>(w: &'a [u8], x: &'a [u8]) -> impl Iterator<Item = (f32, f32, f32)> + 'a {
    w.chunks_exact(q4_0::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_0::BLOCK_BYTES))
        .map(|(bw, bx)| {
            let sumi = super::dot_i8(&nibbles(&bw[2..18], 8), &bx[2..34]);
            (sumi as f32, read_f16(bw, 0), read_f16(bx, 0))
        })
}

pub(crate) fn vec_dot_q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    q4_0_blocks(w, x).fold(0f32, |sumf, (sumi, dw, dx)| sumf + sumi * dw * dx)
}

/// Q4_0 x Q8_0 as llama.cpp's repacked Q4_0 kernels compute it on x86 (where it
/// runs Q4_0 files): `sumf = fma(sumi, d_w · d_x, sumf)` per block. The AVX-512 tile
/// reproduces it bit for bit.
#[cfg(target_arch = "x86_64")]
pub(crate) fn vec_dot_q4_0_q8_0_fused(w: &[u8], x: &[u8]) -> f32 {
    q4_0_blocks(w, x).fold(0f32, |sumf, (sumi, dw, dx)| sumi.mul_add(dw * dx, sumf))
}

pub(crate) fn vec_dot_q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w
        .chunks_exact(q4_1::BLOCK_BYTES)
        .zip(x.chunks_exact(q8_1::BLOCK_BYTES))
    {
        let q = nibbles(&bw[4..20], 0);
        let sumi = super::dot_i8(&q, &bx[4..36]);
        sumf +=
            (read_f16(bw, 0) * read_f16(bx, 0)) * sumi as f32 + read_f16(bw, 2) * read_f16(bx, 2);
    }
    sumf
}
