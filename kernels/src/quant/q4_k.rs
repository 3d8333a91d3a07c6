//! Q4_K: super-blocks of 256 = 8 groups of 32. Layout: `d: f16`, `dmin: f16`,
//! `scales[12]` (8 six-bit scales and 8 six-bit mins, packed), `qs[128]`.
//! Element `e` (c = e/64, k = (e/32)%2, l = e%32) is nibble `k` of `qs[32c + l]`;
//! value `d*sc[e/32]*q - dmin*m[e/32]`.

use super::float::read_f16;
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
