//! The integer block kernels with FEAT_DotProd's SDOT as the dot step: one
//! instruction for 16 byte products into 4 `i32` lanes, where plain NEON needs
//! two widening multiplies and two pairwise accumulates. Installed only when the
//! CPU reports `dotprod` (Cortex-A55/A76 and later; not A53/A72).

use std::arch::aarch64::*;
use std::arch::asm;

use super::neon::I8Dot;

pub(super) struct Sdot;

impl I8Dot for Sdot {
    #[inline]
    #[target_feature(enable = "dotprod")]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: this fn is compiled with dotprod and its caller guarantees the CPU
        // has it; SDOT reads and writes registers only. (`vdotq_s32` is not stable
        // Rust yet, hence the instruction written out.)
        unsafe {
            asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }
}

/// Safe table entries running a block kernel with SDOT. Each compiles the kernel
/// into a `dotprod` function so that `Sdot::dot` inlines into its loop.
macro_rules! dotprod_entries {
    ($($entry:ident => $module:ident::$kernel:ident;)*) => {$(
        pub(super) fn $entry(w: &[u8], x: &[u8]) -> f32 {
            #[target_feature(enable = "dotprod")]
            fn run(w: &[u8], x: &[u8]) -> f32 {
                // SAFETY: this fn requires dotprod, the one feature Sdot adds to NEON.
                unsafe { super::$module::$kernel::<Sdot>(w, x) }
            }
            // SAFETY: installed only after `aarch64::upgrade` detected dotprod.
            unsafe { run(w, x) }
        }
    )*};
}

dotprod_entries! {
    vec_dot_q4_0_q8_0 => legacy::q4_0_q8_0;
    vec_dot_q4_1_q8_1 => legacy::q4_1_q8_1;
    vec_dot_q5_0_q8_0 => legacy::q5_0_q8_0;
    vec_dot_q5_1_q8_1 => legacy::q5_1_q8_1;
    vec_dot_q8_0_q8_0 => legacy::q8_0_q8_0;
    vec_dot_q4_k_q8_k => kquants::q4_k_q8_k;
    vec_dot_q5_k_q8_k => kquants::q5_k_q8_k;
    vec_dot_q6_k_q8_k => kquants::q6_k_q8_k;
}

super::tiles::tile_entries! {
    "dotprod", Sdot;
    tile_q4_0_q8_0 => Q4_0;
    tile_q4_1_q8_1 => Q4_1;
    tile_q5_0_q8_0 => Q5_0;
    tile_q8_0_q8_0 => Q8_0;
}

/// Safe table entries running the interleaved-weight kernel for each format, compiled
/// with dotprod so that SDOT inlines into the loops.
macro_rules! interleaved_entries {
    ($($entry:ident => $format:ident;)*) => {$(
        pub(super) fn $entry(
            w: &[u8],
            rb: usize,
            act: &[u8],
            n: usize,
            t0: usize,
            tokens: usize,
            out: &mut [f32],
        ) {
            #[target_feature(enable = "dotprod")]
            fn run(w: &[u8], rb: usize, act: &[u8], n: usize, t0: usize, tokens: usize, out: &mut [f32]) {
                // SAFETY: this fn requires dotprod, all the kernel needs beyond NEON.
                unsafe {
                    super::interleaved::run::<super::tiles::$format>(w, rb, act, n, t0, tokens, out)
                }
            }
            // SAFETY: installed only after `aarch64::upgrade` detected dotprod.
            unsafe { run(w, rb, act, n, t0, tokens, out) }
        }
    )*};
}

interleaved_entries! {
    interleaved_q4_0_q8_0 => Q4_0;
    interleaved_q4_1_q8_1 => Q4_1;
    interleaved_q5_0_q8_0 => Q5_0;
    interleaved_q8_0_q8_0 => Q8_0;
}
