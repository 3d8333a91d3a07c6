//! F32, F16 and BF16 dots. Accumulation uses 16 independent lanes so LLVM can keep
//! several vector registers busy; the lanes are summed pairwise at the end.

use std::sync::OnceLock;

use crate::quant::float::{bf16_to_f32, f16_to_f32};

const LANES: usize = 16;

#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    let mut v = acc;
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            v[i] += v[i + w];
        }
    }
    v[0]
}

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    for (i, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[i] += x * y;
    }
    reduce(acc)
}

/// Dot of two byte rows whose elements `decode` turns into f32, `W` bytes each.
#[inline(always)]
fn dot_decoded<const W: usize>(a: &[u8], b: &[u8], decode: impl Fn(&[u8]) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES * W), b.chunks_exact(LANES * W));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..LANES {
            acc[i] += decode(&x[i * W..]) * decode(&y[i * W..]);
        }
    }
    for (i, (x, y)) in ar.chunks_exact(W).zip(br.chunks_exact(W)).enumerate() {
        acc[i] += decode(x) * decode(y);
    }
    reduce(acc)
}

pub(crate) fn vec_dot_f32(w: &[u8], x: &[u8]) -> f32 {
    dot_decoded::<4>(w, x, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// All 65536 f16 values as f32: a load beats the bit fiddling of a software
/// conversion (ggml keeps the same table).
fn f16_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(f16_to_f32).collect())
}

pub(crate) fn vec_dot_f16(w: &[u8], x: &[u8]) -> f32 {
    let t = f16_table();
    dot_decoded::<2>(w, x, |b| t[u16::from_le_bytes([b[0], b[1]]) as usize])
}

pub(crate) fn vec_dot_bf16(w: &[u8], x: &[u8]) -> f32 {
    dot_decoded::<2>(w, x, |b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))
}
