//! f16 x f16 sixteen values a lane: F16C-style widening of 32 bytes per register.

use std::arch::x86_64::*;

use super::load32;
use crate::cpu::x86::avx2;

/// Rows of little-endian f16 values (2 bytes each).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn f16_f16(w: &[u8], x: &[u8]) -> f32 {
    const STEP: usize = 128; // bytes: 4 registers of 16 values
    let n = w.len().min(x.len());
    let (wc, xc) = (w[..n].chunks_exact(STEP), x[..n].chunks_exact(STEP));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    let mut acc = [_mm512_setzero_ps(); 4];
    for (a, b) in wc.zip(xc) {
        for (k, lane) in acc.iter_mut().enumerate() {
            let va = _mm512_cvtph_ps(load32(&a[32 * k..]));
            let vb = _mm512_cvtph_ps(load32(&b[32 * k..]));
            *lane = _mm512_fmadd_ps(va, vb, *lane);
        }
    }
    let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(sum) + avx2::vec_dot_f16_f16(wr, xr)
}
