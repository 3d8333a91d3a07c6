//! NEON reading of quantized KV rows (the definitions are in `ops::kv_quant`): 8
//! quants a step widened to i32, converted exactly and multiplied by the block scale
//! once (FMUL, no fused step), as the scalar version does, so the results are
//! bit-identical. Quants of a run that do not fill 8 lanes (a row range starting or
//! ending inside a block, a Q4_0 step that would straddle its two nibble halves) go
//! one at a time.

use std::arch::aarch64::*;

use crate::cpu::ops::kv_quant::{block_runs, q4_0_quant};
use crate::quant::float::read_f16;
use crate::quant::{q4_0, q8_0};

/// The 8 bytes at the start of `b`.
#[inline]
#[target_feature(enable = "neon")]
fn load8(b: &[u8]) -> uint8x8_t {
    let b: [u8; 8] = b[..8].try_into().expect("8 bytes");
    vcreate_u8(u64::from_le_bytes(b))
}

/// `q * d` for 8 quants (as i16), stored at the start of `out`.
#[inline]
#[target_feature(enable = "neon")]
fn store_scaled(out: &mut [f32], q: int16x8_t, d: f32) {
    assert!(out.len() >= 8);
    let lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)));
    let hi = vcvtq_f32_s32(vmovl_high_s16(q));
    // SAFETY: 8 writable f32 checked above; ST1 has no alignment requirement.
    unsafe {
        vst1q_f32(out.as_mut_ptr(), vmulq_n_f32(lo, d));
        vst1q_f32(out.as_mut_ptr().add(4), vmulq_n_f32(hi, d));
    }
}

#[target_feature(enable = "neon")]
pub(super) fn dequant_q8_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q8_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        let out = &mut out[o..o + j1 - j0];
        let mut j = j0;
        while j + 8 <= j1 {
            let q = vmovl_s8(vreinterpret_s8_u8(load8(&blk[2 + j..])));
            store_scaled(&mut out[j - j0..], q, d);
            j += 8;
        }
        for (y, &q) in out[j - j0..].iter_mut().zip(&blk[2 + j..2 + j1]) {
            *y = (q as i8) as f32 * d;
        }
    }
}

#[target_feature(enable = "neon")]
pub(super) fn dequant_q4_0(row: &[u8], at: usize, out: &mut [f32]) {
    let bb = q4_0::BLOCK_BYTES;
    for (b, j0, j1, o) in block_runs(at, out.len()) {
        let blk = &row[b * bb..][..bb];
        let d = read_f16(blk, 0);
        let out = &mut out[o..o + j1 - j0];
        let mut j = j0;
        while j < j1 {
            // Quants 0..16 are the low nibbles of the 16 bytes, 16..32 the high ones.
            let half_end = if j < 16 { 16 } else { 32 };
            if j + 8 <= half_end.min(j1) {
                let bytes = load8(&blk[2 + j % 16..]);
                let nib = if j < 16 {
                    vand_u8(bytes, vdup_n_u8(0x0f))
                } else {
                    vshr_n_u8::<4>(bytes)
                };
                let q = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(nib)), vdupq_n_s16(8));
                store_scaled(&mut out[j - j0..], q, d);
                j += 8;
            } else {
                out[j - j0] = q4_0_quant(&blk[2..], j) as f32 * d;
                j += 1;
            }
        }
    }
}
