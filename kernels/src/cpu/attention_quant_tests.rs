//! Attention over a Q8_0 / Q4_0 KV cache: bit for bit the attention over f32 rows
//! holding the dequantized values (the quantized cache is read, not approximated a
//! second time), for heads that start inside a block, batched queries and windows.

use super::attention::{attend_group, attend_scratch_len, KvHead, KvRows};
use super::ops::kv_quant::KvQuant;
use super::test_data::values;
use crate::quant::{q4_0, q8_0};

fn quantize(ty: KvQuant, x: &[f32]) -> Vec<u8> {
    let mut q = vec![0u8; ty.row_bytes(x.len())];
    match ty {
        KvQuant::Q8_0 => q8_0::quantize(x, &mut q),
        KvQuant::Q4_0 => q4_0::quantize(x, &mut q),
    }
    q
}

fn dequantize(ty: KvQuant, q: &[u8], n: usize) -> Vec<f32> {
    let mut x = vec![0f32; n];
    match ty {
        KvQuant::Q8_0 => q8_0::dequantize(q, &mut x),
        KvQuant::Q4_0 => q4_0::dequantize(q, &mut x),
    }
    x
}

fn rows(ty: KvQuant, q: &[u8]) -> KvRows<'_> {
    match ty {
        KvQuant::Q8_0 => KvRows::Q8_0(q),
        KvQuant::Q4_0 => KvRows::Q4_0(q),
    }
}

#[test]
fn quantized_cache_equals_its_dequantized_f32_values() {
    // 4 heads of 16 in a 64-value row: heads 1 and 3 start half-way into a block.
    let (hd, n_kv, group, positions) = (16usize, 4usize, 2usize, 45usize);
    let stride = n_kv * hd;
    let kx = values(positions * stride, 11, 2.0);
    let vx = values(positions * stride, 12, 2.0);
    for ty in [KvQuant::Q8_0, KvQuant::Q4_0] {
        let (kq, vq) = (quantize(ty, &kx), quantize(ty, &vx));
        let (kf, vf) = (dequantize(ty, &kq, kx.len()), dequantize(ty, &vq, vx.len()));
        for (g, (span, queries), window) in [
            (0, (1, 1), usize::MAX),
            (1, (9, 1), usize::MAX),
            (3, (17, 5), usize::MAX),
            (1, (30, 16), 7),
            (2, (40, 6), usize::MAX),
        ] {
            let head = KvHead {
                stride,
                offset: g * hd,
                head_dim: hd,
                span,
                window,
                softcap: Some(20.0),
            };
            let q = values(queries * group * hd, 13 + g as u64, 1.0);
            let mut scratch = vec![f32::NAN; attend_scratch_len(queries, group, &head)];
            let run = |keys, vals, scratch: &mut [f32]| {
                let mut out = vec![f32::NAN; q.len()];
                attend_group(
                    &q, queries, group, keys, vals, &head, 0.25, scratch, &mut out,
                );
                out
            };
            let got = run(rows(ty, &kq), rows(ty, &vq), &mut scratch);
            let want = run(KvRows::F32(&kf), KvRows::F32(&vf), &mut scratch);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{ty:?} head {g} span {span} queries {queries}: {got:?} vs {want:?}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "not whole blocks")]
fn quantized_rows_must_be_whole_blocks() {
    let q = vec![0u8; 4 * q8_0::BLOCK_BYTES];
    let head = KvHead {
        stride: 48,
        offset: 0,
        head_dim: 16,
        span: 1,
        window: usize::MAX,
        softcap: None,
    };
    let mut scratch = vec![0f32; attend_scratch_len(1, 1, &head)];
    let mut out = vec![0f32; 16];
    let keys = KvRows::Q8_0(&q);
    attend_group(
        &[0.0; 16],
        1,
        1,
        keys,
        keys,
        &head,
        1.0,
        &mut scratch,
        &mut out,
    );
}
