//! INTERIM (lead): minimal formats + matmul so the model can be validated while the
//! kernels branch lands. Replaced wholesale by the kernels branch.
use crate::quant::GgmlType;
use half::f16;
use rayon::prelude::*;

fn f16at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    assert_eq!(Some(src.len()), ty.row_bytes(dst.len()));
    match ty {
        GgmlType::F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::Q8_0 => {
            for (o, b) in dst.chunks_exact_mut(32).zip(src.chunks_exact(34)) {
                let d = f16at(b, 0);
                for i in 0..32 {
                    o[i] = b[2 + i] as i8 as f32 * d;
                }
            }
        }
        GgmlType::Q4_0 => {
            for (o, b) in dst.chunks_exact_mut(32).zip(src.chunks_exact(18)) {
                let d = f16at(b, 0);
                for i in 0..16 {
                    o[i] = ((b[2 + i] & 15) as i32 - 8) as f32 * d;
                    o[i + 16] = ((b[2 + i] >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_1 => {
            for (o, b) in dst.chunks_exact_mut(32).zip(src.chunks_exact(20)) {
                let (d, m) = (f16at(b, 0), f16at(b, 2));
                for i in 0..16 {
                    o[i] = (b[4 + i] & 15) as f32 * d + m;
                    o[i + 16] = (b[4 + i] >> 4) as f32 * d + m;
                }
            }
        }
        other => panic!("interim: no dequantize for {other}"),
    }
}

pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), String> {
    match ty {
        GgmlType::Q8_0 | GgmlType::Q8_1 => {
            let bs = ty.type_size();
            for (x, b) in src.chunks_exact(32).zip(dst.chunks_exact_mut(bs)) {
                let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let off = if ty == GgmlType::Q8_0 { 2 } else { 4 };
                let mut sum = 0i32;
                for i in 0..32 {
                    let q = (x[i] * id).round() as i8;
                    sum += q as i32;
                    b[off + i] = q as u8;
                }
                b[0..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                if ty == GgmlType::Q8_1 {
                    b[2..4].copy_from_slice(&f16::from_f32(sum as f32 * d).to_le_bytes());
                }
            }
            Ok(())
        }
        other => Err(format!("interim: no quantize for {other}")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Fast,
    Precise,
}

pub struct Weights<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

fn dot_q(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    let mut s = 0f32;
    match ty {
        GgmlType::Q4_1 => {
            for (wb, ab) in w.chunks_exact(20).zip(a.chunks_exact(36)) {
                let mut sumi = 0i32;
                for i in 0..16 {
                    sumi += (wb[4 + i] & 15) as i32 * ab[4 + i] as i8 as i32;
                    sumi += (wb[4 + i] >> 4) as i32 * ab[4 + 16 + i] as i8 as i32;
                }
                s += f16at(wb, 0) * f16at(ab, 0) * sumi as f32 + f16at(wb, 2) * f16at(ab, 2);
            }
        }
        GgmlType::Q8_0 => {
            for (wb, ab) in w.chunks_exact(34).zip(a.chunks_exact(34)) {
                let mut sumi = 0i32;
                for i in 0..32 {
                    sumi += wb[2 + i] as i8 as i32 * ab[2 + i] as i8 as i32;
                }
                s += f16at(wb, 0) * f16at(ab, 0) * sumi as f32;
            }
        }
        GgmlType::Q4_0 => {
            for (wb, ab) in w.chunks_exact(18).zip(a.chunks_exact(34)) {
                let mut sumi = 0i32;
                for i in 0..16 {
                    sumi += ((wb[2 + i] & 15) as i32 - 8) * ab[2 + i] as i8 as i32;
                    sumi += ((wb[2 + i] >> 4) as i32 - 8) * ab[2 + 16 + i] as i8 as i32;
                }
                s += f16at(wb, 0) * f16at(ab, 0) * sumi as f32;
            }
        }
        _ => unreachable!(),
    }
    s
}

pub fn matmul(w: &Weights, x: &[f32], n: usize, out: &mut [f32], precision: Precision) {
    let rb = w.ty.row_bytes(w.cols).unwrap();
    let act_ty = match w.ty {
        GgmlType::Q4_1 => Some(GgmlType::Q8_1),
        GgmlType::Q8_0 | GgmlType::Q4_0 => Some(GgmlType::Q8_0),
        _ => None,
    };
    let fast = precision == Precision::Fast && act_ty.is_some();
    let mut qa = Vec::new();
    let mut ab = 0;
    if fast {
        let at = act_ty.unwrap();
        ab = at.row_bytes(w.cols).unwrap();
        qa = vec![0u8; ab * n];
        for t in 0..n {
            quantize_row(
                at,
                &x[t * w.cols..(t + 1) * w.cols],
                &mut qa[t * ab..(t + 1) * ab],
            )
            .unwrap();
        }
    }
    let mut res = vec![0f32; w.rows * n];
    res.par_chunks_mut(n * 16)
        .enumerate()
        .for_each(|(ci, chunk)| {
            let mut buf = vec![0f32; w.cols];
            for (k, o) in chunk.chunks_mut(n).enumerate() {
                let r = ci * 16 + k;
                let wr = &w.data[r * rb..(r + 1) * rb];
                if fast {
                    for t in 0..n {
                        o[t] = dot_q(w.ty, wr, &qa[t * ab..(t + 1) * ab]);
                    }
                } else {
                    dequantize_row(w.ty, wr, &mut buf);
                    for t in 0..n {
                        o[t] = dot_f32(&buf, &x[t * w.cols..(t + 1) * w.cols]);
                    }
                }
            }
        });
    for r in 0..w.rows {
        for t in 0..n {
            out[t * w.rows + r] = res[r * n + t];
        }
    }
}
