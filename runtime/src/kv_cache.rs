//! Key/value cache: one key row and one value row per layer and position.
//!
//! Stored as f16 by default (half the memory of f32, as llama.cpp does); f32 for the
//! precise reference mode; ggml Q8_0 or Q4_0 blocks (`--kv-type q8_0|q4_0`, like
//! llama.cpp's `-ctk/-ctv`) for about a half or a quarter of f16's memory. Memory is
//! allocated zeroed, so pages the context never reaches are never touched and do not
//! count toward resident memory.

use std::fmt;
use std::str::FromStr;

use edgelm_kernels::cpu::ops::kv_quant::KvQuant;
use edgelm_kernels::quant::{q4_0, q8_0};
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F16,
    F32,
    /// ggml Q8_0 blocks: 32 values in 34 bytes.
    Q8_0,
    /// ggml Q4_0 blocks: 32 values in 18 bytes.
    Q4_0,
}

impl KvType {
    /// The names `--kv-type` accepts, as llama.cpp spells them.
    pub const NAMES: [&'static str; 4] = ["f16", "f32", "q8_0", "q4_0"];

    /// The block format of a quantized type.
    fn quant(self) -> Option<KvQuant> {
        match self {
            KvType::Q8_0 => Some(KvQuant::Q8_0),
            KvType::Q4_0 => Some(KvQuant::Q4_0),
            KvType::F16 | KvType::F32 => None,
        }
    }

    /// Bytes of one cached row of `row_len` values (`row_len` must suit the type, see
    /// [`KvType::check_row`]).
    pub fn row_bytes(self, row_len: usize) -> usize {
        match self {
            KvType::F16 => 2 * row_len,
            KvType::F32 => 4 * row_len,
            KvType::Q8_0 | KvType::Q4_0 => self.quant().expect("quantized").row_bytes(row_len),
        }
    }

    /// Mean bytes per cached value (8.5 bits for Q8_0, 4.5 for Q4_0).
    pub fn bytes_per_value(self) -> f64 {
        self.row_bytes(KvQuant::BLOCK) as f64 / KvQuant::BLOCK as f64
    }

    /// Why rows of `row_len` values (`n_head_kv * head_dim`) cannot be stored as this
    /// type: the block formats need whole blocks of 32.
    pub fn check_row(self, row_len: usize) -> Result<(), String> {
        match self.quant() {
            Some(_) if !row_len.is_multiple_of(KvQuant::BLOCK) => Err(format!(
                "--kv-type {self}: a KV row of this model has {row_len} values, not a \
                 multiple of the {}-value blocks; use f16",
                KvQuant::BLOCK
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvType::F16 => "f16",
            KvType::F32 => "f32",
            KvType::Q8_0 => "q8_0",
            KvType::Q4_0 => "q4_0",
        })
    }
}

impl FromStr for KvType {
    type Err = String;

    fn from_str(s: &str) -> Result<KvType, String> {
        match s {
            "f16" => Ok(KvType::F16),
            "f32" => Ok(KvType::F32),
            "q8_0" => Ok(KvType::Q8_0),
            "q4_0" => Ok(KvType::Q4_0),
            _ => Err(format!(
                "unknown KV cache type {s:?} (one of: {})",
                KvType::NAMES.join(", ")
            )),
        }
    }
}

enum Store {
    // f16 kept as raw bits: a zeroed Vec<u16> is allocated with calloc.
    F16(Vec<u16>),
    F32(Vec<f32>),
    /// ggml blocks, `row_bytes` per position.
    Quant {
        ty: KvQuant,
        bytes: Vec<u8>,
        row_bytes: usize,
    },
}

impl Store {
    fn new(ty: KvType, positions: usize, row: usize) -> Store {
        let len = positions * row;
        match ty {
            KvType::F16 => Store::F16(vec![0u16; len]),
            KvType::F32 => Store::F32(vec![0f32; len]),
            KvType::Q8_0 | KvType::Q4_0 => {
                let row_bytes = ty.row_bytes(row);
                Store::Quant {
                    ty: ty.quant().expect("quantized"),
                    bytes: vec![0u8; positions * row_bytes],
                    row_bytes,
                }
            }
        }
    }

    /// Stores the row of position `pos` (`src`: a whole row).
    fn write(&mut self, pos: usize, src: &[f32]) {
        let at = pos * src.len();
        match self {
            Store::F16(v) => {
                // Converted with F16C where the CPU has it; round to nearest even.
                let dst: &mut [f16] = v[at..at + src.len()].reinterpret_cast_mut();
                dst.convert_from_f32_slice(src);
            }
            Store::F32(v) => v[at..at + src.len()].copy_from_slice(src),
            Store::Quant {
                ty,
                bytes,
                row_bytes,
            } => {
                // ggml's reference quantizers, so a row is the blocks llama.cpp writes.
                let dst = &mut bytes[pos * *row_bytes..][..*row_bytes];
                match ty {
                    KvQuant::Q8_0 => q8_0::quantize(src, dst),
                    KvQuant::Q4_0 => q4_0::quantize(src, dst),
                }
            }
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
    ///
    /// # Panics
    /// If `ty` cannot store rows of `row` values ([`KvType::check_row`], which
    /// callers check first to report it).
    pub fn new(ty: KvType, n_layer: usize, n_ctx: usize, row: usize) -> KvCache {
        if let Err(e) = ty.check_row(row) {
            panic!("{e}");
        }
        let store = || (0..n_layer).map(|_| Store::new(ty, n_ctx, row)).collect();
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
        2 * self.k.len() * self.n_ctx * self.ty.row_bytes(self.row)
    }

    /// Stores the key and value rows of `layer` at `pos`.
    pub fn write(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(pos < self.n_ctx && k.len() == self.row && v.len() == self.row);
        self.k[layer].write(pos, k);
        self.v[layer].write(pos, v);
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
        Store::Quant { ty, bytes, .. } => match ty {
            KvQuant::Q8_0 => Rows::Q8_0(bytes),
            KvQuant::Q4_0 => Rows::Q4_0(bytes),
        },
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

    /// Bytes as computed: 2 (keys, values) x layers x positions x row bytes, with
    /// 34-byte Q8_0 and 18-byte Q4_0 blocks of 32 values; and the buffers are that
    /// long.
    #[test]
    fn bytes_are_as_computed() {
        let (layers, ctx, row) = (3, 5, 64);
        for (ty, row_bytes) in [
            (KvType::F32, 256),
            (KvType::F16, 128),
            (KvType::Q8_0, 68),
            (KvType::Q4_0, 36),
        ] {
            assert_eq!(ty.row_bytes(row), row_bytes, "{ty}");
            let c = KvCache::new(ty, layers, ctx, row);
            assert_eq!(c.bytes(), 2 * layers * ctx * row_bytes, "{ty}");
            let held = |r: Rows| match r {
                Rows::F16(v) => 2 * v.len(),
                Rows::F32(v) => 4 * v.len(),
                Rows::Q8_0(v) | Rows::Q4_0(v) => v.len(),
            };
            let total: usize = (0..layers)
                .map(|l| held(c.keys(l)) + held(c.values(l)))
                .sum();
            assert_eq!(total, c.bytes(), "{ty}");
        }
        assert_eq!(KvType::Q8_0.bytes_per_value(), 34.0 / 32.0);
        assert_eq!(KvType::Q4_0.bytes_per_value(), 18.0 / 32.0);
    }

    /// A quantized row is the blocks ggml's quantizer writes, at its position.
    #[test]
    fn quantized_rows_are_ggml_blocks() {
        let k: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let v: Vec<f32> = k.iter().map(|x| -x * 0.5).collect();
        let mut c = KvCache::new(KvType::Q8_0, 1, 3, 64);
        c.write(0, 2, &k, &v);
        let mut want = vec![0u8; 68];
        q8_0::quantize(&k, &mut want);
        let Rows::Q8_0(got) = c.keys(0) else {
            panic!("a q8_0 cache gives q8_0 rows")
        };
        assert_eq!(&got[2 * 68..], &want[..]);
        assert!(got[..2 * 68].iter().all(|&b| b == 0));
        let mut c = KvCache::new(KvType::Q4_0, 1, 3, 64);
        c.write(0, 1, &k, &v);
        q4_0::quantize(&v, &mut want[..36]);
        let Rows::Q4_0(got) = c.values(0) else {
            panic!("a q4_0 cache gives q4_0 rows")
        };
        assert_eq!(&got[36..72], &want[..36]);
    }

    #[test]
    fn types_parse_and_refuse_partial_blocks() {
        for name in KvType::NAMES {
            assert_eq!(name.parse::<KvType>().unwrap().to_string(), name);
        }
        assert!("q5_0".parse::<KvType>().is_err());
        assert!(KvType::Q8_0.check_row(96).is_ok());
        let e = KvType::Q4_0.check_row(48).unwrap_err();
        assert!(e.contains("48") && e.contains("q4_0"), "{e}");
        assert!(KvType::F16.check_row(48).is_ok());
    }
}
