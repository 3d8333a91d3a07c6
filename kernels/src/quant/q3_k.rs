//! Q3_K: super-blocks of 256 = 16 groups of 16. Layout: `hmask[32]`, `qs[64]`
//! (low 2 bits), `scales[12]` (16 six-bit scales, offset by 32), `d: f16`.
//! Element `e` (h = e/128, s = (e/32)%4, l = e%32): low bits `2s..2s+2` of
//! `qs[32h + l]`, high bit `e/32` of `hmask[l]`; the quant is `low - 4` when the high
//! bit is clear and `low` when set; value `d * scale[e/16] * quant`.

use super::float::{f32_to_f16, read_f16};
use super::k_search::{nearest_int, q3_quants};
use super::QK_K;

pub const BLOCK_BYTES: usize = QK_K / 8 + QK_K / 4 + 12 + 2;
pub const HMASK: usize = 0;
pub const QS: usize = QK_K / 8;
pub const SCALES: usize = QS + QK_K / 4;
pub const D: usize = SCALES + 12;

/// The 16 signed scales: low nibbles from bytes 0..8 (groups 8..16 use the high
/// nibbles), top two bits from bytes 8..12, two bits per group in turn.
#[inline(always)]
pub(crate) fn scales(b: &[u8]) -> [i8; 16] {
    let s = &b[SCALES..SCALES + 12];
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let low = if i < 8 { s[i] & 0x0f } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = (low | (high << 4)) as i8 - 32;
    }
    out
}

/// The 256 quants (-4..=3) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for (e, q) in q.iter_mut().enumerate() {
        let (h, s, l) = (e / 128, (e / 32) % 4, e % 32);
        let low = ((b[QS + 32 * h + l] >> (2 * s)) & 3) as i8;
        let high = (b[HMASK + l] >> (e / 32)) & 1;
        *q = if high != 0 { low } else { low - 4 };
    }
}

/// ggml's `quantize_row_q3_K_ref`: per group of 16 a signed scale from [`q3_quants`],
/// the scales quantized to 6 bits against the one of largest magnitude, then every
/// quant recomputed from the stored (rounded) scales.
pub fn quantize(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let mut q = [0i8; QK_K];
        let mut group_scales = [0f32; QK_K / 16];
        let (mut amax, mut max_scale) = (0f32, 0f32);
        for (g, (xg, qg)) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)).enumerate() {
            group_scales[g] = q3_quants(xg, 4, qg);
            if group_scales[g].abs() > amax {
                amax = group_scales[g].abs();
                max_scale = group_scales[g];
            }
        }

        let sc = &mut b[SCALES..SCALES + 12];
        sc.fill(0);
        let d = if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (g, &v) in group_scales.iter().enumerate() {
                // ggml stores the rounded value in an int8_t before clamping it.
                let l = ((nearest_int(iscale * v) as i8).clamp(-32, 31) + 32) as u8;
                if g < 8 {
                    sc[g] = l & 0x0f;
                } else {
                    sc[g - 8] |= (l & 0x0f) << 4;
                }
                sc[8 + g % 4] |= (l >> 4) << (2 * (g / 4));
            }
            1.0 / iscale
        } else {
            0.0
        };
        b[D..D + 2].copy_from_slice(&f32_to_f16(d).to_le_bytes());

        let d = read_f16(b, D);
        for ((xg, qg), s) in x
            .chunks_exact(16)
            .zip(q.chunks_exact_mut(16))
            .zip(scales(b))
        {
            let dl = d * s as f32;
            if dl == 0.0 {
                // ggml keeps the search's quants for a group whose scale rounds to 0.
                continue;
            }
            for (qi, &v) in qg.iter_mut().zip(xg) {
                *qi = nearest_int(v / dl).clamp(-4, 3) as i8 + 4;
            }
        }

        let hmask = &mut b[HMASK..HMASK + QK_K / 8];
        hmask.fill(0);
        let mut low = [0u8; QK_K];
        for (e, (lo, &v)) in low.iter_mut().zip(&q).enumerate() {
            let mut v = v as u8;
            if v > 3 {
                hmask[e % 32] |= 1 << (e / 32);
                v -= 4;
            }
            *lo = v;
        }
        super::q2_k::pack_2bit(&low, &mut b[QS..QS + QK_K / 4]);
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    let mut q = [0i8; QK_K];
    for (b, y) in src
        .chunks_exact(BLOCK_BYTES)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, D);
        let sc = scales(b);
        unpack(b, &mut q);
        for g in 0..QK_K / 16 {
            let dl = d * sc[g] as f32;
            for l in 0..16 {
                y[16 * g + l] = dl * q[16 * g + l] as f32;
            }
        }
    }
}
