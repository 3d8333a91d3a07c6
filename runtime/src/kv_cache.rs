//! Key/value cache: one key row and one value row per layer and position.
//!
//! Stored as f16 by default (half the memory of f32, as llama.cpp does); f32 for the
//! precise reference mode. Memory is allocated zeroed, so pages the context never
//! reaches are never touched and do not count toward resident memory.

use edgelm_kernels::quant::float::f16_to_f32;
use half::f16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F16,
    F32,
}

impl KvType {
    pub fn bytes(self) -> usize {
        match self {
            KvType::F16 => 2,
            KvType::F32 => 4,
        }
    }
}

enum Store {
    // f16 kept as raw bits: a zeroed Vec<u16> is allocated with calloc.
    F16(Vec<u16>),
    F32(Vec<f32>),
}

impl Store {
    fn new(ty: KvType, len: usize) -> Store {
        match ty {
            KvType::F16 => Store::F16(vec![0u16; len]),
            KvType::F32 => Store::F32(vec![0f32; len]),
        }
    }

    fn write(&mut self, at: usize, src: &[f32]) {
        match self {
            Store::F16(v) => {
                for (d, &s) in v[at..at + src.len()].iter_mut().zip(src) {
                    *d = f16::from_f32(s).to_bits();
                }
            }
            Store::F32(v) => v[at..at + src.len()].copy_from_slice(src),
        }
    }
}

/// A read-only view of one layer's keys or values.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    F16(&'a [u16]),
    F32(&'a [f32]),
}

impl Rows<'_> {
    /// `dot(q, row[at .. at + q.len()])`.
    #[inline]
    pub fn dot(&self, at: usize, q: &[f32]) -> f32 {
        match self {
            Rows::F16(v) => v[at..at + q.len()]
                .iter()
                .zip(q)
                .map(|(&k, &q)| f16_to_f32(k) * q)
                .sum(),
            Rows::F32(v) => v[at..at + q.len()].iter().zip(q).map(|(k, q)| k * q).sum(),
        }
    }

    /// `out += p * row[at .. at + out.len()]`.
    #[inline]
    pub fn axpy(&self, at: usize, p: f32, out: &mut [f32]) {
        let n = out.len();
        match self {
            Rows::F16(v) => {
                for (o, &x) in out.iter_mut().zip(&v[at..at + n]) {
                    *o += p * f16_to_f32(x);
                }
            }
            Rows::F32(v) => {
                for (o, &x) in out.iter_mut().zip(&v[at..at + n]) {
                    *o += p * x;
                }
            }
        }
    }
}

pub struct KvCache {
    ty: KvType,
    n_ctx: usize,
    row: usize,
    k: Vec<Store>,
    v: Vec<Store>,
}

impl KvCache {
    /// A cache for `n_layer` layers, `n_ctx` positions and rows of `row` values.
    pub fn new(ty: KvType, n_layer: usize, n_ctx: usize, row: usize) -> KvCache {
        let store = || (0..n_layer).map(|_| Store::new(ty, n_ctx * row)).collect();
        KvCache {
            ty,
            n_ctx,
            row,
            k: store(),
            v: store(),
        }
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    pub fn ty(&self) -> KvType {
        self.ty
    }

    /// Bytes reserved for keys and values.
    pub fn bytes(&self) -> usize {
        2 * self.k.len() * self.n_ctx * self.row * self.ty.bytes()
    }

    /// Stores the key and value rows of `layer` at `pos`.
    pub fn write(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(pos < self.n_ctx && k.len() == self.row && v.len() == self.row);
        self.k[layer].write(pos * self.row, k);
        self.v[layer].write(pos * self.row, v);
    }

    pub fn keys(&self, layer: usize) -> Rows<'_> {
        view(&self.k[layer])
    }

    pub fn values(&self, layer: usize) -> Rows<'_> {
        view(&self.v[layer])
    }

    /// Elements per cached row (`n_head_kv * head_dim`).
    pub fn row_len(&self) -> usize {
        self.row
    }
}

fn view(s: &Store) -> Rows<'_> {
    match s {
        Store::F16(v) => Rows::F16(v),
        Store::F32(v) => Rows::F32(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_cache_round_trips_within_half_precision() {
        let mut c = KvCache::new(KvType::F16, 2, 4, 3);
        c.write(1, 2, &[1.0, -0.5, 3.25], &[0.1, 0.2, 0.3]);
        let q = [1.0, 1.0, 1.0];
        assert_eq!(c.keys(1).dot(2 * 3, &q), 3.75);
        let mut out = [0.0; 3];
        c.values(1).axpy(2 * 3, 2.0, &mut out);
        assert!((out[1] - 0.4).abs() < 1e-3);
        assert_eq!(c.bytes(), 2 * 2 * 4 * 3 * 2);
    }
}
