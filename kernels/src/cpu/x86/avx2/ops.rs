//! AVX2 + FMA element-wise ops: the formulas of `ops::scalar`, 8 values a step.
//!
//! Products and sums that the scalar code rounds separately are rounded separately
//! here too (no FMA outside `exp8`), so RMSNorm's output step, RoPE, the attention
//! score lanes and `axpy` are bit-identical to the scalar versions. `exp8` replaces
//! libm's `expf`: computed in f64 and rounded once, it is nearly always the correctly
//! rounded value, as `expf` is. Slice tails go through `exp8` too, padded, so an
//! element's result never depends on where it sits. Sums (softmax, RMSNorm) run in
//! f64 lanes like the scalar f64 sums: only their order differs, far below f32
//! precision.

use std::arch::x86_64::*;

use crate::cpu::dispatch::SCORE_LANES;
use crate::cpu::ops::{scalar, RopeAngles, RopeStyle, EXP_TAYLOR};

/// 8 f32 from the start of `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load(s: &[f32]) -> __m256 {
    assert!(s.len() >= 8);
    // SAFETY: 8 readable f32 checked above; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(s.as_ptr()) }
}

/// Stores 8 f32 at the start of `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store(s: &mut [f32], v: __m256) {
    assert!(s.len() >= 8);
    // SAFETY: 8 writable f32 checked above; storeu has no alignment requirement.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
}

/// `m <= 8` values of `s` in the low lanes, `fill` in the rest.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_partial(s: &[f32], fill: f32) -> __m256 {
    let mut buf = [fill; 8];
    buf[..s.len()].copy_from_slice(s);
    load(&buf)
}

/// Stores the low `s.len() <= 8` lanes of `v` into `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store_partial(s: &mut [f32], v: __m256) {
    let mut buf = [0f32; 8];
    store(&mut buf, v);
    let n = s.len();
    s.copy_from_slice(&buf[..n]);
}

/// Sum of the 4 f64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_pd(v: __m256d) -> f64 {
    let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
}

/// `acc + v`, the 8 f32 lanes widened to f64 (two 4-lane accumulators).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn add_wide(acc: [__m256d; 2], v: __m256) -> [__m256d; 2] {
    [
        _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v))),
        _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))),
    ]
}

/// `e^x` of 4 f64 lanes holding f32 inputs already clamped to [-104, 89]:
/// `x = n ln2 + r` (one FMA; the error of the f64 ln2 times |n| <= 151 stays near
/// 1e-14 relative), a polynomial for `e^r`, then `2^n` (a normal f64 for every n).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn exp4_pd(x: __m256d) -> __m256d {
    let n = _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_pd(
        x,
        _mm256_set1_pd(std::f64::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_pd(n, _mm256_set1_pd(std::f64::consts::LN_2), x);
    // Estrin's scheme: 4 dependent steps instead of Horner's 10.
    let c = |k: usize| _mm256_set1_pd(EXP_TAYLOR[10 - k]);
    let (r2, pair) = (_mm256_mul_pd(r, r), |k| _mm256_fmadd_pd(c(k + 1), r, c(k)));
    let r4 = _mm256_mul_pd(r2, r2);
    let p01 = _mm256_fmadd_pd(pair(2), r2, pair(0));
    let p23 = _mm256_fmadd_pd(pair(6), r2, pair(4));
    let p8 = _mm256_fmadd_pd(c(10), r2, pair(8));
    let p = _mm256_fmadd_pd(p23, r4, p01);
    let p = _mm256_fmadd_pd(p8, _mm256_mul_pd(r4, r4), p);
    let k = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
    let pow2 = _mm256_slli_epi64::<52>(_mm256_add_epi64(k, _mm256_set1_epi64x(1023)));
    _mm256_mul_pd(p, _mm256_castsi256_pd(pow2))
}

/// `e^x` per lane, computed in f64 and rounded once to f32: within 1 ulp of the true
/// value and nearly always the correctly rounded one, as libm's `expf` (so the SIMD
/// ops agree with the scalar ones bit for bit almost everywhere, and greedy decoding
/// does not flip on near-ties). Inputs are first clamped to [-104, 89]: below, `e^x`
/// rounds to 0 (so -inf gives 0); above, the f32 conversion overflows to +inf as it
/// should. NaN stays NaN (max/min return their second operand when one is NaN).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn exp8(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_set1_ps(89.0),
        _mm256_max_ps(_mm256_set1_ps(-104.0), x),
    );
    let lo = exp4_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    let hi = exp4_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn exp(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        store(c, exp8(load(c)));
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        store_partial(tail, exp8(load_partial(tail, 0.0)));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert!(weight.len() == x.len() && out.len() == x.len());
    let mut acc = [_mm256_setzero_pd(); 2];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        let v = load(c);
        acc = add_wide(acc, _mm256_mul_ps(v, v));
    }
    let mut sum = hsum_pd(_mm256_add_pd(acc[0], acc[1]));
    for &v in chunks.remainder() {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    let vscale = _mm256_set1_ps(scale);
    let n8 = x.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let o = _mm256_mul_ps(_mm256_mul_ps(load(&x[i..]), vscale), load(&weight[i..]));
        store(&mut out[i..], o);
    }
    for i in n8..x.len() {
        out[i] = x[i] * scale * weight[i];
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn softmax(x: &mut [f32]) {
    let mut vmax = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        vmax = _mm256_max_ps(vmax, load(c));
    }
    let mut lanes = [0f32; 8];
    store(&mut lanes, vmax);
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);

    let vmax = _mm256_set1_ps(max);
    let mut acc = [_mm256_setzero_pd(); 2];
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        let e = exp8(_mm256_sub_ps(load(c), vmax));
        store(c, e);
        acc = add_wide(acc, e);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        // Padding lanes are -inf: e^-inf = 0 adds nothing to the sum.
        let e = exp8(_mm256_sub_ps(load_partial(tail, f32::NEG_INFINITY), vmax));
        store_partial(tail, e);
        acc = add_wide(acc, e);
    }
    let sum = hsum_pd(_mm256_add_pd(acc[0], acc[1]));
    let inv = (1.0 / sum) as f32;
    let vinv = _mm256_set1_ps(inv);
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        store(c, _mm256_mul_ps(load(c), vinv));
    }
    for v in chunks.into_remainder() {
        *v *= inv;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn rope(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle) {
    let half = angles.cos.len();
    assert!(2 * half <= head_dim && angles.sin.len() == half && head_dim > 0);
    let (cos, sin) = (&angles.cos[..], &angles.sin[..]);
    for head in x.chunks_exact_mut(head_dim) {
        let mut i = 0;
        match style {
            RopeStyle::Interleaved => {
                // 4 pairs (x0, x1) a step: x' = x * (c, c) + swap(x) * (-s, s).
                let sign = _mm256_setr_ps(-0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0);
                while i + 4 <= half {
                    assert!(cos.len() >= i + 4 && sin.len() >= i + 4);
                    // SAFETY: 4 readable f32 from `i` in both, checked above.
                    let (c, s) = unsafe {
                        (
                            _mm_loadu_ps(cos.as_ptr().add(i)),
                            _mm_loadu_ps(sin.as_ptr().add(i)),
                        )
                    };
                    let cc = _mm256_set_m128(_mm_unpackhi_ps(c, c), _mm_unpacklo_ps(c, c));
                    let ss = _mm256_set_m128(_mm_unpackhi_ps(s, s), _mm_unpacklo_ps(s, s));
                    let ss = _mm256_xor_ps(ss, sign);
                    let v = load(&head[2 * i..]);
                    let swapped = _mm256_permute_ps::<0b10_11_00_01>(v);
                    let o = _mm256_add_ps(_mm256_mul_ps(v, cc), _mm256_mul_ps(swapped, ss));
                    store(&mut head[2 * i..], o);
                    i += 4;
                }
                for i in i..half {
                    let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                    head[2 * i] = x0 * cos[i] - x1 * sin[i];
                    head[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
                }
            }
            RopeStyle::Neox => {
                let (a, b) = head.split_at_mut(half);
                while i + 8 <= half {
                    let (x0, x1) = (load(&a[i..]), load(&b[i..]));
                    let (c, s) = (load(&cos[i..]), load(&sin[i..]));
                    store(
                        &mut a[i..],
                        _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)),
                    );
                    store(
                        &mut b[i..],
                        _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)),
                    );
                    i += 8;
                }
                for i in i..half {
                    let (x0, x1) = (a[i], b[i]);
                    a[i] = x0 * cos[i] - x1 * sin[i];
                    b[i] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}

/// `g / (1 + e^-g) * u`, with the rounding steps of the scalar formula.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn swiglu8(g: __m256, u: __m256) -> __m256 {
    let e = exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0)));
    _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0), e)), u)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len());
    let mut g = gate.chunks_exact_mut(8);
    let mut u = up.chunks_exact(8);
    for (gc, uc) in (&mut g).zip(&mut u) {
        store(gc, swiglu8(load(gc), load(uc)));
    }
    let (gt, ut) = (g.into_remainder(), u.remainder());
    if !gt.is_empty() {
        let o = swiglu8(load_partial(gt, 0.0), load_partial(ut, 0.0));
        store_partial(gt, o);
    }
}

/// Four query rows at a time: each lane's sum is a chain of dependent adds, so four
/// independent chains keep the adder busy where one waits on its latency.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn lane_dots(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]) {
    const { assert!(SCORE_LANES == 8) };
    let hd = tile.len() / SCORE_LANES;
    assert!(q.len() >= acc.len() * hd);
    let mut rows = acc.chunks_exact_mut(4);
    let mut qs = q.chunks_exact(4 * hd);
    for (acc, q) in (&mut rows).zip(&mut qs) {
        let mut a: [__m256; 4] = std::array::from_fn(|i| load(&acc[i]));
        for (d, t) in tile.chunks_exact(8).enumerate() {
            let t = load(t);
            for (i, a) in a.iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(t, _mm256_set1_ps(q[i * hd + d])));
            }
        }
        for (acc, a) in acc.iter_mut().zip(a) {
            store(acc, a);
        }
    }
    for (acc, q) in rows
        .into_remainder()
        .iter_mut()
        .zip(qs.remainder().chunks_exact(hd))
    {
        let mut a = load(acc);
        for (t, &qd) in tile.chunks_exact(8).zip(q) {
            a = _mm256_add_ps(a, _mm256_mul_ps(load(t), _mm256_set1_ps(qd)));
        }
        store(acc, a);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn axpy(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]) {
    for (i, y) in scalar::axpy_rows(y, a, stride, x) {
        let a = a[i * stride];
        let va = _mm256_set1_ps(a);
        let mut yc = y.chunks_exact_mut(8);
        let mut xc = x.chunks_exact(8);
        for (yv, xv) in (&mut yc).zip(&mut xc) {
            store(yv, _mm256_add_ps(load(yv), _mm256_mul_ps(va, load(xv))));
        }
        for (o, &v) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
            *o += a * v;
        }
    }
}

/// Rows `r[l]` as columns: lane `l` of output `j` is lane `j` of `r[l]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // t[0] = a0 b0 a1 b1 | a4 b4 a5 b5 (rows 0, 1), t[1] = a2 b2 a3 b3 | ..., etc.
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xee>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xee>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xee>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xee>(t[5], t[7]),
    ];
    // u[j] (j < 4) holds element j of rows 0..4 in its low half, element j + 4 in its
    // high half; u[j + 4] the same for rows 4..8.
    [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ]
}

/// The transposed key tile, 8 dimensions of 8 rows a step (`load8(row, d)` gives
/// elements `d..d + 8` of a row); leftover dimensions one at a time.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn key_tile<T: Copy>(
    src: &[T],
    stride: usize,
    m: usize,
    tile: &mut [f32],
    load8: impl Fn(&[T]) -> __m256,
    one: impl Fn(T) -> f32,
) {
    const { assert!(SCORE_LANES == 8) };
    let hd = tile.len() / 8;
    assert!(m <= 8);
    if m == 0 {
        tile[..hd * 8].fill(0.0);
        return;
    }
    assert!(src.len() >= (m - 1) * stride + hd);
    let d8 = hd / 8 * 8;
    for d in (0..d8).step_by(8) {
        let rows: [__m256; 8] = std::array::from_fn(|l| {
            if l < m {
                load8(&src[l * stride + d..])
            } else {
                _mm256_setzero_ps()
            }
        });
        for (j, col) in transpose8(rows).into_iter().enumerate() {
            store(&mut tile[(d + j) * 8..], col);
        }
    }
    for d in d8..hd {
        for l in 0..8 {
            tile[d * 8 + l] = if l < m { one(src[l * stride + d]) } else { 0.0 };
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn key_tile_f16(src: &[u16], stride: usize, m: usize, tile: &mut [f32]) {
    let load8 = |s: &[u16]| {
        assert!(s.len() >= 8);
        // SAFETY: 8 readable u16 checked above; loadu has no alignment requirement.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(s.as_ptr().cast()) })
    };
    let one = |b: u16| _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(b as i32)));
    key_tile(src, stride, m, tile, load8, one)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn key_tile_f32(src: &[f32], stride: usize, m: usize, tile: &mut [f32]) {
    key_tile(src, stride, m, tile, |s| load(s), |v| v)
}
