//! Q4_K: super-blocks of 256 = 8 groups of 32. Layout: `d: f16`, `dmin: f16`,
//! `scales[12]` (8 six-bit scales and 8 six-bit mins, packed), `qs[128]`.
//! Element `e` (c = e/64, k = (e/32)%2, l = e%32) is nibble `k` of `qs[32c + l]`;
//! value `d*sc[e/32]*q - dmin*m[e/32]`.

use super::float::{f32_to_f16, read_f16};
use super::k_search::{nearest_int, qkx2_quants, Qkx2Grid};
use super::QK_K;

pub const BLOCK_BYTES: usize = 4 + 12 + QK_K / 2;
pub const SCALES: usize = 4;
pub const QS: usize = 16;

/// Scale and min of group `j` from the 12 packed bytes: groups 0..4 use the low 6
/// bits of bytes 0..4 / 4..8; groups 4..8 take their low nibble from bytes 8..12
/// and their top two bits from the spare bits of bytes 0..8.
#[inline(always)]
pub fn scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// The 256 quants (0..=15) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for c in 0..QK_K / 64 {
        for l in 0..32 {
            let v = b[QS + 32 * c + l];
            q[64 * c + l] = (v & 0x0f) as i8;
            q[64 * c + 32 + l] = (v >> 4) as i8;
        }
    }
}

/// ggml's `quantize_row_q4_K_ref`.
pub fn quantize(src: &[f32], dst: &mut [u8]) {
    const GRID: Qkx2Grid = Qkx2Grid {
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let q = quantize_scales_mins(x, 15, GRID, b);
        for c in 0..QK_K / 64 {
            for l in 0..32 {
                b[QS + 32 * c + l] = q[64 * c + l] | (q[64 * c + 32 + l] << 4);
            }
        }
    }
}

/// What Q4_K and Q5_K quantization share: per group of 32 a scale and min from
/// [`qkx2_quants`] (weights `rms(group) + |x|`), both quantized to 6 bits against the
/// block's largest and written with `d` and `dmin` into `b`; returns the 256 quants
/// (`0..=nmax`) recomputed from the stored, rounded values.
pub(crate) fn quantize_scales_mins(
    x: &[f32],
    nmax: i32,
    grid: Qkx2Grid,
    b: &mut [u8],
) -> [u8; QK_K] {
    let mut q = [0u8; QK_K];
    let mut scales = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for (g, (xg, qg)) in x.chunks_exact(32).zip(q.chunks_exact_mut(32)).enumerate() {
        let mut sum_x2 = 0f32;
        for &v in xg {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut w = [0f32; 32];
        for (w, v) in w.iter_mut().zip(xg) {
            *w = av_x + v.abs();
        }
        (scales[g], mins[g]) = qkx2_quants(xg, &w, nmax, grid, qg);
        if scales[g] > max_scale {
            max_scale = scales[g];
        }
        if mins[g] > max_min {
            max_min = mins[g];
        }
    }

    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let sc = &mut b[SCALES..SCALES + 12];
    for g in 0..QK_K / 32 {
        // ggml stores the rounded values in a uint8_t before capping them at 63.
        let ls = (nearest_int(inv_scale * scales[g]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[g]) as u8).min(63);
        if g < 4 {
            sc[g] = ls;
            sc[g + 4] = lm;
        } else {
            sc[g + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            sc[g - 4] |= (ls >> 4) << 6;
            sc[g] |= (lm >> 4) << 6;
        }
    }
    b[..2].copy_from_slice(&f32_to_f16(max_scale / 63.0).to_le_bytes());
    b[2..4].copy_from_slice(&f32_to_f16(max_min / 63.0).to_le_bytes());

    let (d, dmin) = (read_f16(b, 0), read_f16(b, 2));
    for (g, (xg, qg)) in x.chunks_exact(32).zip(q.chunks_exact_mut(32)).enumerate() {
        let (sc, m) = scale_min(&b[SCALES..SCALES + 12], g);
        let dl = d * sc as f32;
        if dl == 0.0 {
            // ggml keeps the search's quants for a group whose scale rounds to 0.
            continue;
        }
        let ml = dmin * m as f32;
        for (qi, &v) in qg.iter_mut().zip(xg) {
            *qi = nearest_int((v + ml) / dl).clamp(0, nmax) as u8;
        }
    }
    q
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    dequantize_with(src, dst, BLOCK_BYTES, unpack);
}

/// Q4_K and Q5_K share everything but how their quants are packed: `d * scale * q -
/// dmin * min` over eight groups of 32, with the 6-bit scales and mins at `SCALES`.
pub(crate) fn dequantize_with(
    src: &[u8],
    dst: &mut [f32],
    block_bytes: usize,
    unpack: fn(&[u8], &mut [i8; QK_K]),
) {
    let mut q = [0i8; QK_K];
    for (b, y) in src
        .chunks_exact(block_bytes)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let dmin = read_f16(b, 2);
        unpack(b, &mut q);
        for g in 0..QK_K / 32 {
            let (sc, m) = scale_min(&b[SCALES..SCALES + 12], g);
            let d1 = d * sc as f32;
            let m1 = dmin * m as f32;
            for l in 0..32 {
                y[32 * g + l] = d1 * q[32 * g + l] as f32 - m1;
            }
        }
    }
}
