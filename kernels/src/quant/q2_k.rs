//! Q2_K: super-blocks of 256 = 16 groups of 16. Layout: `scales[16]` (low nibble
//! scale, high nibble min, per group), `qs[64]` (2-bit quants), `d: f16`,
//! `dmin: f16`. Element `e` (h = e/128, s = (e/32)%4, l = e%32) is bits `2s..2s+2`
//! of `qs[32h + l]`; its value is `d*(sc&15)*q - dmin*(sc>>4)` with `sc = scales[e/16]`.

use super::float::{f32_to_f16, read_f16};
use super::k_search::{nearest_int, qkx2_quants, Qkx2Grid};
use super::QK_K;

pub const BLOCK_BYTES: usize = QK_K / 16 + QK_K / 4 + 4;
pub const SCALES: usize = 0;
pub const QS: usize = QK_K / 16;
pub const D: usize = QS + QK_K / 4;

/// The 256 quants (0..=3) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for (e, q) in q.iter_mut().enumerate() {
        let (h, s, l) = (e / 128, (e / 32) % 4, e % 32);
        *q = ((b[QS + 32 * h + l] >> (2 * s)) & 3) as i8;
    }
}

/// ggml's `quantize_row_q2_K_ref`: per group of 16 a scale and min from
/// [`qkx2_quants`] (|x|-weighted absolute error), both quantized to 4 bits against the
/// block's largest, then every quant recomputed from the stored (rounded) values.
pub fn quantize(src: &[f32], dst: &mut [u8]) {
    const GRID: Qkx2Grid = Qkx2Grid {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let mut q = [0u8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let mut mins = [0f32; QK_K / 16];
        let (mut max_scale, mut max_min) = (0f32, 0f32);
        for (g, (xg, qg)) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)).enumerate() {
            let mut w = [0f32; 16];
            for (w, v) in w.iter_mut().zip(xg) {
                *w = v.abs();
            }
            (scales[g], mins[g]) = qkx2_quants(xg, &w, 3, GRID, qg);
            if scales[g] > max_scale {
                max_scale = scales[g];
            }
            if mins[g] > max_min {
                max_min = mins[g];
            }
        }

        // Truncating casts below mirror ggml's stores into uint8_t.
        let sc = &mut b[SCALES..SCALES + QK_K / 16];
        let d = if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for (s, &v) in sc.iter_mut().zip(&scales) {
                *s = nearest_int(iscale * v) as u8;
            }
            max_scale / 15.0
        } else {
            sc.fill(0);
            0.0
        };
        let dmin = if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for (s, &v) in sc.iter_mut().zip(&mins) {
                *s |= (nearest_int(iscale * v) << 4) as u8;
            }
            max_min / 15.0
        } else {
            0.0
        };
        b[D..D + 2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        b[D + 2..D + 4].copy_from_slice(&f32_to_f16(dmin).to_le_bytes());

        let (d, dmin) = (read_f16(b, D), read_f16(b, D + 2));
        for (g, (xg, qg)) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)).enumerate() {
            let sc = b[SCALES + g];
            let dl = d * (sc & 0x0f) as f32;
            if dl == 0.0 {
                // ggml keeps the search's quants for a group whose scale rounds to 0.
                continue;
            }
            let ml = dmin * (sc >> 4) as f32;
            for (qi, &v) in qg.iter_mut().zip(xg) {
                *qi = nearest_int((v + ml) / dl).clamp(0, 3) as u8;
            }
        }
        pack_2bit(&q, &mut b[QS..QS + QK_K / 4]);
    }
}

/// Packs 256 two-bit values (Q2_K quants, Q3_K low bits) into 64 bytes: byte
/// `32h + l` holds elements `128h + l + 32s` at bits `2s..2s+2`.
pub(crate) fn pack_2bit(q: &[u8; QK_K], qs: &mut [u8]) {
    for h in 0..QK_K / 128 {
        for l in 0..32 {
            let e = 128 * h + l;
            qs[32 * h + l] = q[e] | (q[e + 32] << 2) | (q[e + 64] << 4) | (q[e + 96] << 6);
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
        let dmin = read_f16(b, D + 2);
        unpack(b, &mut q);
        for g in 0..QK_K / 16 {
            let sc = b[SCALES + g];
            let dl = d * (sc & 0x0f) as f32;
            let ml = dmin * (sc >> 4) as f32;
            for l in 0..16 {
                y[16 * g + l] = dl * q[16 * g + l] as f32 - ml;
            }
        }
    }
}
