//! Key/value cache: one key row and one value row per layer and position.
//!
//! Stored as f16 by default (half the memory of f32, as llama.cpp does); f32 for the
//! precise reference mode. Memory is allocated zeroed, so pages the context never
//! reaches are never touched and do not count toward resident memory.

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

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
                // Converted with F16C where the CPU has it; round to nearest even.
                let dst: &mut [f16] = v[at..at + src.len()].reinterpret_cast_mut();
                dst.convert_from_f32_slice(src);
            }
            Store::F32(v) => v[at..at + src.len()].copy_from_slice(src),
        }
    }
}

/// A read-only view of one layer's keys or values.
pub use edgelm_kernels::cpu::attention::KvRows as Rows;

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
        let Rows::F16(k) = c.keys(1) else {
            panic!("an f16 cache gives f16 rows")
        };
        let Rows::F16(v) = c.values(1) else {
            panic!("an f16 cache gives f16 rows")
        };
        let k: Vec<f32> = k[6..9]
            .iter()
            .map(|&b| f16::from_bits(b).to_f32())
            .collect();
        assert_eq!(k, [1.0, -0.5, 3.25]);
        assert!((f16::from_bits(v[7]).to_f32() - 0.2).abs() < 1e-3);
        assert!(matches!(c.keys(0), Rows::F16(z) if z.iter().all(|&b| b == 0)));
        assert_eq!(c.bytes(), 2 * 2 * 4 * 3 * 2);
    }
}
