//! Q5_K: Q4_K plus a fifth bit. Layout: `d: f16`, `dmin: f16`, `scales[12]` (as
//! Q4_K), `qh[32]`, `qs[128]`. Element `e` has Q4_K's low nibble and, as its fifth
//! bit, bit `e/32` of `qh[e%32]`.

use super::k_search::Qkx2Grid;
use super::QK_K;

pub const BLOCK_BYTES: usize = 4 + 12 + QK_K / 8 + QK_K / 2;
pub const SCALES: usize = 4;
pub const QH: usize = 16;
pub const QS: usize = QH + QK_K / 8;

/// The 256 quants (0..=31) of a block, in element order.
#[inline(always)]
pub(crate) fn unpack(b: &[u8], q: &mut [i8; QK_K]) {
    for c in 0..QK_K / 64 {
        for l in 0..32 {
            let v = b[QS + 32 * c + l];
            let h = b[QH + l];
            q[64 * c + l] = ((v & 0x0f) | (((h >> (2 * c)) & 1) << 4)) as i8;
            q[64 * c + 32 + l] = ((v >> 4) | (((h >> (2 * c + 1)) & 1) << 4)) as i8;
        }
    }
}

/// ggml's `quantize_row_q5_K_ref`: Q4_K's search with 5-bit quants and a finer grid.
pub fn quantize(src: &[f32], dst: &mut [u8]) {
    const GRID: Qkx2Grid = Qkx2Grid {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    for (x, b) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_BYTES))
    {
        let q = super::q4_k::quantize_scales_mins(x, 31, GRID, b);
        b[QH..QH + QK_K / 8].fill(0);
        for c in 0..QK_K / 64 {
            for l in 0..32 {
                let (lo, hi) = (q[64 * c + l], q[64 * c + 32 + l]);
                b[QH + l] |= ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1));
                b[QS + 32 * c + l] = (lo & 0x0f) | ((hi & 0x0f) << 4);
            }
        }
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    super::q4_k::dequantize_with(src, dst, BLOCK_BYTES, unpack);
}
