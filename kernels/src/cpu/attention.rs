//! Causal attention of the query heads that share one key/value head, over cached
//! keys and values (grouped-query attention).
//!
//! Each cached key and value row is read and converted to f32 once for the whole
//! group, not once per query head. Scores are computed for `LANES` positions at
//! once, each lane summing its dot product in plain sequential order: that
//! vectorizes without reordering any sum, so the results are exactly those of the
//! textbook loop (activations are requantized to 8 bits at every product, where a
//! tiny difference can flip a near-tie in greedy output). The key-tile transpose, the
//! score lanes and the value accumulation are entries of the dispatched ops table
//! (`dispatch::Ops`), whose SIMD versions are bit-identical to the scalar ones.

use half::slice::HalfFloatSliceExt;
use half::{f16, slice::HalfBitsSliceExt};

use super::dispatch::{kernels, SCORE_LANES as LANES};
use super::ops::kv_quant::{key_tile_quant, KvQuant};
use super::ops::softmax;

/// One layer's cached keys or values: positions of `stride` elements each.
#[derive(Clone, Copy, Debug)]
pub enum KvRows<'a> {
    /// f16 bit patterns.
    F16(&'a [u16]),
    F32(&'a [f32]),
    /// ggml Q8_0 blocks, a position's `stride` elements (a multiple of 32) in
    /// `stride / 32` blocks.
    Q8_0(&'a [u8]),
    /// ggml Q4_0 blocks, laid out as for `Q8_0`.
    Q4_0(&'a [u8]),
}

impl<'a> KvRows<'a> {
    /// The block format and bytes of a layer's quantized rows, `None` for float rows.
    fn quant(self) -> Option<(KvQuant, &'a [u8])> {
        match self {
            KvRows::Q8_0(b) => Some((KvQuant::Q8_0, b)),
            KvRows::Q4_0(b) => Some((KvQuant::Q4_0, b)),
            KvRows::F16(_) | KvRows::F32(_) => None,
        }
    }

    /// Elements `offset..offset + buf.len()` of position `s` as f32: borrowed for
    /// f32, converted into `buf` otherwise.
    #[inline]
    fn load<'b>(self, s: usize, stride: usize, offset: usize, buf: &'b mut [f32]) -> &'b [f32]
    where
        'a: 'b,
    {
        let n = buf.len();
        let at = s * stride + offset;
        match self {
            KvRows::F32(v) => &v[at..at + n],
            KvRows::F16(v) => {
                let h: &[f16] = v[at..at + n].reinterpret_cast();
                h.convert_to_f32_slice(buf);
                buf
            }
            KvRows::Q8_0(_) | KvRows::Q4_0(_) => {
                let (ty, bytes) = self.quant().expect("a quantized variant");
                let row = ty.row_bytes(stride);
                (ty.dequant(&kernels().ops))(&bytes[s * row..][..row], offset, buf);
                buf
            }
        }
    }
}

/// Where one key/value head lives in the cache and how far to look.
#[derive(Clone, Copy, Debug)]
pub struct KvHead {
    /// Elements per cached position (all heads).
    pub stride: usize,
    /// This head's first element within a position.
    pub offset: usize,
    pub head_dim: usize,
    /// Positions `0..span` are attended to (by the first query; see `window`).
    pub span: usize,
    /// Sliding-window attention: a query at position `p` sees only positions
    /// `p + 1 - window..=p` (Gemma 2/3 local layers); `usize::MAX` for all.
    pub window: usize,
    /// Soft-capping of the scaled scores, `c · tanh(score / c)` (Gemma 2); `None`: off.
    pub softcap: Option<f32>,
}

impl KvHead {
    /// The first position a query at `p` sees.
    fn window_start(&self, p: usize) -> usize {
        (p + 1).saturating_sub(self.window)
    }
}

/// Scratch elements [`attend_group`] needs for `queries` queries of `group` heads.
pub fn attend_scratch_len(queries: usize, group: usize, head: &KvHead) -> usize {
    queries * group * (head.span + queries - 1 + LANES) + (LANES + 1) * head.head_dim
}

/// `out[t][h] = softmax(scale * K q[t][h]) V` for `queries` consecutive queries of
/// the `group` query heads in `q` (`queries * group * head_dim` values: query after
/// query, head after head), query `t` over positions `0..head.span + t` (the last
/// `head.window` of them).
///
/// Several queries at once (prefill) share each key tile and each value row read
/// from the cache; every output is bit-identical to attending one query at a time.
///
/// # Panics
/// If `queries` is 0, `q` or `out` is not `queries * group * head_dim` long,
/// `scratch` is shorter than [`attend_scratch_len`], or the cache holds fewer than
/// `span + queries - 1` positions.
#[allow(clippy::too_many_arguments)]
pub fn attend_group(
    q: &[f32],
    queries: usize,
    group: usize,
    keys: KvRows,
    values: KvRows,
    head: &KvHead,
    scale: f32,
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let KvHead {
        stride,
        offset,
        head_dim: hd,
        span,
        window,
        softcap,
    } = *head;
    assert!(window > 0, "attend_group: an empty window");
    assert!(queries > 0, "attend_group: no queries");
    assert!(
        keys.quant().is_none() && values.quant().is_none() || stride.is_multiple_of(KvQuant::BLOCK),
        "attend_group: quantized rows of {stride} elements are not whole blocks"
    );
    assert_eq!(q.len(), queries * group * hd, "attend_group: query length");
    assert_eq!(
        out.len(),
        queries * group * hd,
        "attend_group: output length"
    );
    // The last query's span; query t's scores for head h are at row t * group + h.
    let last = span + queries - 1;
    let (scores, rest) = scratch.split_at_mut(queries * group * last);
    let (dots, rest) = rest.split_at_mut(queries * group * LANES);
    let (dots, _) = dots.as_chunks_mut::<LANES>();
    let (row, rest) = rest.split_at_mut(hd);
    // Keys of `LANES` positions, transposed: `tile[d * LANES + l]`.
    let tile = &mut rest[..hd * LANES];
    let ops = &kernels().ops;
    // The first query that sees position `s`, and the first query past the last one
    // that does (a window ends at a query `window - 1` positions on).
    let first_seeing = |s: usize| (s + 1).saturating_sub(span);
    let end_seeing = |s: usize| {
        s.saturating_add(window)
            .saturating_sub(span - 1)
            .min(queries)
    };
    // Query t (position span - 1 + t) sees positions lo(t)..span + t.
    let lo = |t: usize| head.window_start(span - 1 + t);

    for s0 in (lo(0)..last).step_by(LANES) {
        let m = LANES.min(last - s0);
        let first = s0 * stride + offset;
        match keys {
            KvRows::F16(v) => (ops.key_tile_f16)(&v[first..], stride, m, tile),
            KvRows::F32(v) => (ops.key_tile_f32)(&v[first..], stride, m, tile),
            KvRows::Q8_0(_) | KvRows::Q4_0(_) => {
                let (ty, bytes) = keys.quant().expect("a quantized variant");
                let row = ty.row_bytes(stride);
                let src = &bytes[s0 * row..(s0 + m) * row];
                key_tile_quant(ops, ty, src, row, offset, m, tile);
            }
        }
        // The query rows (query t, head h: row t · group + h) that see position s0,
        // all at once.
        let r0 = first_seeing(s0) * group;
        let dots = &mut dots[r0..queries * group];
        dots.fill([0.0; LANES]);
        (ops.lane_dots)(tile, &q[r0 * hd..], dots);
        for (r, acc) in (r0..).zip(dots.iter()) {
            let t = r / group;
            let mt = m.min(span + t - s0);
            let skip = lo(t).saturating_sub(s0).min(mt);
            let row = &mut scores[r * last + s0..][skip..mt];
            for (sc, a) in row.iter_mut().zip(&acc[skip..]) {
                *sc = a * scale;
            }
            if let Some(c) = softcap {
                row.iter_mut().for_each(|sc| *sc = c * (*sc / c).tanh());
            }
        }
    }
    for (r, p) in scores.chunks_exact_mut(last).enumerate() {
        let t = r / group;
        softmax(&mut p[lo(t)..span + t]);
    }
    out.fill(0.0);
    for s in lo(0)..last {
        let v = values.load(s, stride, offset, row);
        // Every query row that sees position s: row r's weight is scores[r · last + s].
        let (r0, r1) = (first_seeing(s) * group, end_seeing(s) * group);
        (ops.axpy)(
            &mut out[r0 * hd..r1 * hd],
            &scores[r0 * last + s..],
            last,
            v,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::float::{f16_to_f32, f32_to_f16};

    /// Straightforward f64 attention of one head over f32 rows, scores soft-capped at
    /// `cap` where given.
    fn reference(
        q: &[f32],
        k: &[Vec<f32>],
        v: &[Vec<f32>],
        scale: f64,
        cap: Option<f64>,
    ) -> Vec<f64> {
        let s: Vec<f64> = k
            .iter()
            .map(|kr| {
                let s = kr
                    .iter()
                    .zip(q)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
                    * scale;
                cap.map_or(s, |c| c * (s / c).tanh())
            })
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
        let z: f64 = e.iter().sum();
        let mut o = vec![0f64; q.len()];
        for (p, vr) in e.iter().zip(v) {
            for (oo, &x) in o.iter_mut().zip(vr) {
                *oo += p / z * x as f64;
            }
        }
        o
    }

    #[test]
    fn grouped_heads_match_per_head_reference() {
        let (hd, n_kv, group, span) = (8usize, 2usize, 3usize, 11usize);
        let stride = n_kv * hd;
        let val = |i: usize| ((i * 7919 % 113) as f32 / 56.0 - 1.0) * 1.5;
        let kf: Vec<f32> = (0..span * stride).map(val).collect();
        let vf: Vec<f32> = (0..span * stride).map(|i| val(i + 5)).collect();
        let kh: Vec<u16> = kf.iter().map(|&x| f32_to_f16(x)).collect();
        let vh: Vec<u16> = vf.iter().map(|&x| f32_to_f16(x)).collect();
        let q: Vec<f32> = (0..group * hd).map(|i| val(i + 11)).collect();
        let scale = 1.0 / (hd as f32).sqrt();
        // Gemma 2's soft-capping, at a cap the scores reach (they are about ±3 here).
        for (g, cap) in (0..n_kv).flat_map(|g| [(g, None), (g, Some(1.5f32))]) {
            let head = KvHead {
                stride,
                offset: g * hd,
                head_dim: hd,
                span,
                window: usize::MAX,
                softcap: cap,
            };
            let mut scratch = vec![0f32; attend_scratch_len(1, group, &head)];
            for (f16_cache, tol) in [(false, 1e-5), (true, 1e-5)] {
                let (keys, values, kr, vr): (KvRows, KvRows, Vec<Vec<f32>>, Vec<Vec<f32>>) =
                    if f16_cache {
                        let rows = |h: &[u16]| {
                            (0..span)
                                .map(|s| {
                                    h[s * stride + g * hd..][..hd]
                                        .iter()
                                        .map(|&b| f16_to_f32(b))
                                        .collect()
                                })
                                .collect()
                        };
                        (KvRows::F16(&kh), KvRows::F16(&vh), rows(&kh), rows(&vh))
                    } else {
                        let rows = |f: &[f32]| {
                            (0..span)
                                .map(|s| f[s * stride + g * hd..][..hd].to_vec())
                                .collect()
                        };
                        (KvRows::F32(&kf), KvRows::F32(&vf), rows(&kf), rows(&vf))
                    };
                let mut out = vec![0f32; group * hd];
                attend_group(
                    &q,
                    1,
                    group,
                    keys,
                    values,
                    &head,
                    scale,
                    &mut scratch,
                    &mut out,
                );
                for h in 0..group {
                    let qh = &q[h * hd..(h + 1) * hd];
                    let want = reference(qh, &kr, &vr, scale as f64, cap.map(f64::from));
                    for (got, want) in out[h * hd..(h + 1) * hd].iter().zip(&want) {
                        assert!(
                            (*got as f64 - want).abs() < tol,
                            "head {g}/{h} f16={f16_cache}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Bit for bit the per-head textbook loop (sequential f32 sums), for spans that
    /// end inside, at and past a lane tile.
    #[test]
    fn equals_the_sequential_loop_exactly() {
        let (hd, group) = (16usize, 2usize);
        let val = |i: usize| ((i * 2654435761 % 1009) as f32 / 504.0 - 1.0) * 3.0;
        let q: Vec<f32> = (0..group * hd).map(|i| val(i + 3)).collect();
        let kh: Vec<u16> = (0..40 * hd).map(|i| f32_to_f16(val(i + 1000))).collect();
        let vh: Vec<u16> = (0..40 * hd).map(|i| f32_to_f16(val(i + 7000))).collect();
        for span in [1usize, 7, 8, 9, 33] {
            let head = KvHead {
                stride: hd,
                offset: 0,
                head_dim: hd,
                span,
                window: usize::MAX,
                softcap: None,
            };
            let mut scratch = vec![f32::NAN; attend_scratch_len(1, group, &head)];
            let mut out = vec![0f32; group * hd];
            let (keys, values) = (KvRows::F16(&kh), KvRows::F16(&vh));
            attend_group(
                &q,
                1,
                group,
                keys,
                values,
                &head,
                0.25,
                &mut scratch,
                &mut out,
            );
            for h in 0..group {
                let qh = &q[h * hd..(h + 1) * hd];
                let mut p: Vec<f32> = (0..span)
                    .map(|s| {
                        let k = &kh[s * hd..(s + 1) * hd];
                        let mut acc = 0f32;
                        for (&kb, &qv) in k.iter().zip(qh) {
                            acc += f16_to_f32(kb) * qv;
                        }
                        acc * 0.25
                    })
                    .collect();
                softmax(&mut p);
                let mut want = vec![0f32; hd];
                for (s, &ps) in p.iter().enumerate() {
                    for (o, &vb) in want.iter_mut().zip(&vh[s * hd..(s + 1) * hd]) {
                        *o += ps * f16_to_f32(vb);
                    }
                }
                let got = &out[h * hd..(h + 1) * hd];
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "span {span} head {h}: {got:?} vs {want:?}"
                );
            }
        }
    }

    /// Queries attended together give, bit for bit, what each gives alone, with and
    /// without a sliding window; and a window gives what attending to only the
    /// positions in it gives.
    #[test]
    fn batched_queries_equal_one_at_a_time() {
        let (hd, group, stride) = (16usize, 3usize, 32usize);
        let val = |i: usize| ((i * 2654435761 % 1013) as f32 / 506.0 - 1.0) * 2.0;
        let kh: Vec<u16> = (0..60 * stride).map(|i| f32_to_f16(val(i + 17))).collect();
        let vh: Vec<u16> = (0..60 * stride)
            .map(|i| f32_to_f16(val(i + 4242)))
            .collect();
        let (keys, values) = (KvRows::F16(&kh), KvRows::F16(&vh));
        let cases = [(1usize, 1usize), (1, 9), (5, 4), (8, 17), (30, 20)];
        for ((span, queries), window) in cases
            .into_iter()
            .flat_map(|c| [usize::MAX, 1, 4, 9].map(move |w| (c, w)))
        {
            let width = group * hd;
            let q: Vec<f32> = (0..queries * width).map(|i| val(i * 3 + span)).collect();
            let head = |span| KvHead {
                stride,
                offset: hd,
                head_dim: hd,
                span,
                window,
                softcap: None,
            };
            let mut scratch = vec![f32::NAN; attend_scratch_len(queries, group, &head(span))];
            let mut out = vec![f32::NAN; queries * width];
            attend_group(
                &q,
                queries,
                group,
                keys,
                values,
                &head(span),
                0.3,
                &mut scratch,
                &mut out,
            );
            for t in 0..queries {
                let h = head(span + t);
                let mut one = vec![f32::NAN; attend_scratch_len(1, group, &h)];
                let mut want = vec![f32::NAN; width];
                let qt = &q[t * width..(t + 1) * width];
                attend_group(qt, 1, group, keys, values, &h, 0.3, &mut one, &mut want);
                let got = &out[t * width..(t + 1) * width];
                let same =
                    |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same(got, &want),
                    "span {span}, {queries} queries, window {window}, query {t}: {got:?} vs {want:?}"
                );
                // The window's positions alone, without a window.
                let lo = (span + t).saturating_sub(window);
                let (ks, vs) = (&kh[lo * stride..], &vh[lo * stride..]);
                let alone = KvHead {
                    span: span + t - lo,
                    window: usize::MAX,
                    softcap: None,
                    ..h
                };
                let mut one = vec![f32::NAN; attend_scratch_len(1, group, &alone)];
                let mut cut = vec![f32::NAN; width];
                let (ks, vs) = (KvRows::F16(ks), KvRows::F16(vs));
                attend_group(qt, 1, group, ks, vs, &alone, 0.3, &mut one, &mut cut);
                assert!(same(&want, &cut), "window {window}: {want:?} vs {cut:?}");
            }
        }
    }
}
