//! The dot kernels the AVX2 tiles (`tiles.rs`) reproduce bit for bit, a block at a
//! time: the block's integer sum `sumi`, then `acc = fma(sumi, d_w · d_x, acc)` and,
//! for Q4_1/Q5_1, `acc = fma(m_w, s_x, acc)`. A matrix's rows left over from whole
//! tiles use them. (For Q4_0 this is `scalar::vec_dot_q4_0_q8_0_fused`.)

use std::arch::x86_64::*;

use super::tiles::{products, Format};
use super::{load32, read_f16};
use crate::quant::{q8_0, q8_1};

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot<F: Format>(w: &[u8], x: &[u8]) -> f32 {
    let (xb, at) = if F::Q8_1 {
        (q8_1::BLOCK_BYTES, 4)
    } else {
        (q8_0::BLOCK_BYTES, 2)
    };
    let mut acc = 0f32;
    for (bw, bx) in w.chunks_exact(F::WB).zip(x.chunks_exact(xb)) {
        let xv = load32(&bx[at..]);
        // SAFETY: `bw` is a whole weight block.
        let q = unsafe { F::values(bw.as_ptr()) };
        let mut sumi = hsum_i32(products(q, xv, F::SIGNED));
        if F::OFFSET != 0 {
            let sum_x = products(_mm256_set1_epi8(1), xv, false);
            sumi -= F::OFFSET * hsum_i32(sum_x);
        }
        acc = (sumi as f32).mul_add(read_f16(bw, 0) * read_f16(bx, 0), acc);
        if F::Q8_1 {
            acc = read_f16(bw, F::MIN_AT).mul_add(read_f16(bx, 2), acc);
        }
    }
    acc
}
