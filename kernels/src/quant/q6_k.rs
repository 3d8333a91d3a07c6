//! Q6_K: super-blocks of 256 = 16 groups of 16. Layout: `ql[128]` (low nibbles),
//! `qh[64]` (top two bits), `scales[16]: i8`, `d: f16`. Element `e` (h = e/128,
//! k = (e/64)%2, s = (e/32)%4, l = e%32): nibble `k` of `ql[64h + e%64]`, bits
//! `2s..2s+2` of `qh[32h + l]`; quant minus 32, times `d * scales[e/16]`.

use super::float::{f32_to_f16, read_f16};
use super::k_search::{nearest_int, qx_quants, GROUP_MAX_EPS};
use super::QK_K;

pub const BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
pub const QL: usize = 0;
pub const QH: usize = QK_K / 2;
pub const SCALES: usize = QH + QK_K / 4;
pub const D: usize = SCALES + QK_K / 16;

/// The 256 quants (-32..=31) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for (e, q) in q.iter_mut().enumerate() {
        let (h, k, s, l) = (e / 128, (e / 64) % 2, (e / 32) % 4, e % 32);
        let low = (b[QL + 64 * h + e % 64] >> (4 * k)) & 0x0f;
        let high = (b[QH + 32 * h + l] >> (2 * s)) & 3;
        *q = (low | (high << 4)) as i8 - 32;
    }
}

/// ggml's `quantize_row_q6_K_ref`: per group of 16 a signed scale from [`qx_quants`],
/// the scales quantized to `i8` against the one of largest magnitude, then every quant
/// recomputed from the stored (rounded) scales.
pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let mut q = [0u8; QK_K];
        let mut group_scales = [0f32; QK_K / 16];
        let (mut max_abs, mut max_scale) = (0f32, 0f32);
        for (g, (xg, qg)) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)).enumerate() {
            group_scales[g] = qx_quants(xg, 32, qg);
            if group_scales[g].abs() > max_abs {
                max_abs = group_scales[g].abs();
                max_scale = group_scales[g];
            }
        }
        if max_abs < GROUP_MAX_EPS {
            b.fill(0);
            continue;
        }

        let iscale = -128.0 / max_scale;
        b[D..D + 2].copy_from_slice(&f32_to_f16(1.0 / iscale).to_le_bytes());
        for (s, &v) in b[SCALES..SCALES + QK_K / 16].iter_mut().zip(&group_scales) {
            // The cap applies before ggml's store into an int8_t (which may wrap).
            *s = nearest_int(iscale * v).min(127) as u8;
        }

        let d = read_f16(b, D);
        for (g, (xg, qg)) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)).enumerate() {
            let dl = d * (b[SCALES + g] as i8) as f32;
            if dl == 0.0 {
                // ggml keeps the search's quants for a group whose scale rounds to 0.
                continue;
            }
            for (qi, &v) in qg.iter_mut().zip(xg) {
                *qi = (nearest_int(v / dl).clamp(-32, 31) + 32) as u8;
            }
        }

        for h in 0..QK_K / 128 {
            for l in 0..32 {
                let e = 128 * h + l;
                let (q1, q2, q3, q4) = (q[e], q[e + 32], q[e + 64], q[e + 96]);
                b[QL + 64 * h + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
                b[QL + 64 * h + 32 + l] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
                b[QH + 32 * h + l] =
                    (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    let mut q = [0i8; QK_K];
    for (b, y) in src
        .chunks_exact(BLOCK_BYTES)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, D);
        unpack(b, &mut q);
        for g in 0..QK_K / 16 {
            let dl = d * (b[SCALES + g] as i8) as f32;
            for l in 0..16 {
                y[16 * g + l] = dl * q[16 * g + l] as f32;
            }
        }
    }
}
