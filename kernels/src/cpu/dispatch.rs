//! Run-time choice of the dot kernels and element-wise ops. `kernels()` picks a table
//! once per process; SIMD tables (AVX2, AVX-512, NEON) slot in here next to the scalar
//! one, each filling only the entries it accelerates.

use std::sync::OnceLock;

use super::ops::{RopeAngles, RopeStyle};
use crate::quant::GgmlType;

/// Dot product of one weight row (ggml bytes of its type) with one activation row
/// already quantized to the matching `vec_dot_type`; both cover the same columns.
pub(crate) type VecDotFn = fn(w: &[u8], x: &[u8]) -> f32;

/// Weight rows and activation rows of one [`TileFn`] call.
pub(crate) const TILE_ROWS: usize = 4;
pub(crate) const TILE_TOKENS: usize = 8;

/// `out[r][t]`: the dot product of weight row `r` with activation row `t`.
pub(crate) type Tile = [[f32; TILE_TOKENS]; TILE_ROWS];

/// A block of a matrix product: [`TILE_ROWS`] weight rows (`row_bytes` apart from the
/// start of `w`) times activation rows `t0..t0 + tokens` (1 ≤ `tokens` ≤
/// [`TILE_TOKENS`], `t0` a multiple of [`TILE_TOKENS`]) of the `n` in `act`, into
/// `out[..][..tokens]`.
/// `act` holds the quantized activations (the `vec_dot_type`, row after row), or what
/// the kernel's [`PrepareFn`] made of them. Every output is bit-identical to its
/// [`TileKernel::dot`] on the same rows, so tiled and untiled products agree exactly.
pub(crate) type TileFn =
    fn(w: &[u8], row_bytes: usize, act: &[u8], n: usize, t0: usize, tokens: usize, out: &mut Tile);

/// Rearranges `n` quantized activation rows (back to back in `qx`) into `out` for a
/// [`TileFn`]: work done once per product instead of once per weight row.
pub(crate) type PrepareFn = fn(qx: &[u8], n: usize, out: &mut [u8]);

#[derive(Clone, Copy)]
pub(crate) struct TileKernel {
    pub tile: TileFn,
    /// The preparation and the bytes it writes per token and weight block; `None`:
    /// the tile reads the quantized activations as they are.
    pub prepare: Option<(PrepareFn, usize)>,
    /// The dot kernel whose outputs the tile reproduces bit for bit; a matrix's rows
    /// left over from whole tiles use it, so every row follows one formula.
    pub dot: VecDotFn,
}

/// Whole groups of 4 interleaved weight rows (`w`: `g` groups, see `interleave`,
/// `row_bytes` per row) times activation rows `t0..t0 + tokens` (1 ≤ `tokens` ≤
/// [`TILE_TOKENS`], `t0` a multiple of [`TILE_TOKENS`]) of the `n` in `act` (as the
/// kernel's [`PrepareFn`] left them), into `out[t * 4g + r]`. Each output is
/// bit-identical to [`InterleavedKernel::dot`] on the row in ggml's layout.
pub(crate) type InterleavedFn =
    fn(w: &[u8], row_bytes: usize, act: &[u8], n: usize, t0: usize, tokens: usize, out: &mut [f32]);

#[derive(Clone, Copy)]
pub(crate) struct InterleavedKernel {
    pub run: InterleavedFn,
    /// The preparation of the activations and the bytes it writes per token and
    /// weight block.
    pub prepare: (PrepareFn, usize),
    /// The dot kernel it reproduces bit for bit (for rows left over from groups).
    pub dot: VecDotFn,
}

/// Quantizes activations (whole blocks) to a `vec_dot` type, exactly as the
/// reference quantizer in `quant` does.
pub(crate) type QuantizeFn = fn(src: &[f32], dst: &mut [u8]);

/// Dot product of two equally long f32 slices.
pub(crate) type DotF32Fn = fn(a: &[f32], b: &[f32]) -> f32;

/// Elements `at..at + out.len()` of one quantized KV row (ggml blocks from the start
/// of `row`) as f32; must equal the scalar version bit for bit.
pub(crate) type DequantFn = fn(row: &[u8], at: usize, out: &mut [f32]);

/// Key positions whose attention scores [`Ops::lane_dots`] computes together.
pub(crate) const SCORE_LANES: usize = 8;

/// The element-wise ops (see `ops::scalar` for what each computes). Every version
/// gives an element the same result wherever it sits in its slice. Entries may
/// assume the length checks of the public wrappers in `ops`, but stay memory-safe
/// without them.
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    pub exp: fn(x: &mut [f32]),
    pub rms_norm: fn(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]),
    pub softmax: fn(x: &mut [f32]),
    pub rope: fn(x: &mut [f32], head_dim: usize, angles: &RopeAngles, style: RopeStyle),
    pub swiglu: fn(gate: &mut [f32], up: &[f32]),
    /// Attention scores of [`SCORE_LANES`] positions for `acc.len()` query rows (`q`,
    /// row after row), added to `acc`; must equal the scalar version bit for bit (each
    /// lane a sequential sum of plain products).
    pub lane_dots: fn(tile: &[f32], q: &[f32], acc: &mut [[f32; SCORE_LANES]]),
    /// `y_i += a[i · stride] * x` for each row `y_i` of `y` (rows as long as `x`); must
    /// equal the scalar version bit for bit (no FMA).
    pub axpy: fn(y: &mut [f32], a: &[f32], stride: usize, x: &[f32]),
    /// Cached keys of up to [`SCORE_LANES`] positions, transposed for `lane_dots`.
    pub key_tile_f16: fn(src: &[u16], stride: usize, m: usize, tile: &mut [f32]),
    pub key_tile_f32: fn(src: &[f32], stride: usize, m: usize, tile: &mut [f32]),
    /// Quantized KV rows (Q8_0, Q4_0) as f32: value rows, and the key tiles of
    /// `ops::kv_quant::key_tile_quant`.
    pub dequant_q8_0: DequantFn,
    pub dequant_q4_0: DequantFn,
}

pub(crate) struct Kernels {
    pub name: &'static str,
    pub ops: Ops,
    pub dot_f32: DotF32Fn,
    /// Indexed by position in [`GgmlType::ALL`]; `None` means "dequantize and use
    /// `dot_f32`".
    pub vec_dot: [Option<VecDotFn>; GgmlType::ALL.len()],
    /// Indexed like `vec_dot`; `None` means "a `vec_dot` call per output".
    pub tile: [Option<TileKernel>; GgmlType::ALL.len()],
    /// Indexed like `vec_dot`; kernels for weights interleaved by `interleave`.
    pub interleaved: [Option<InterleavedKernel>; GgmlType::ALL.len()],
    /// Indexed like `vec_dot`, by activation type; `None`: the reference quantizer.
    pub quantize: [Option<QuantizeFn>; GgmlType::ALL.len()],
}

impl Kernels {
    pub fn vec_dot(&self, ty: GgmlType) -> Option<VecDotFn> {
        self.vec_dot[type_index(ty)]
    }

    pub fn tile(&self, ty: GgmlType) -> Option<TileKernel> {
        self.tile[type_index(ty)]
    }

    pub fn interleaved(&self, ty: GgmlType) -> Option<InterleavedKernel> {
        self.interleaved[type_index(ty)]
    }

    pub fn quantize(&self, ty: GgmlType) -> Option<QuantizeFn> {
        self.quantize[type_index(ty)]
    }
}

pub(crate) fn type_index(ty: GgmlType) -> usize {
    GgmlType::ALL
        .iter()
        .position(|&t| t == ty)
        .expect("every type is in ALL")
}

pub(crate) fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(|| select(pinned_level().unwrap_or(usize::MAX)))
}

/// The instruction-set levels of this architecture, lowest first: each table adds
/// to the one below it. `EDGELM_CPU` names one to stop at.
#[cfg(target_arch = "x86_64")]
pub(crate) const LEVELS: &[&str] = &["scalar", "avx2", "avx512"];
#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
pub(crate) const LEVELS: &[&str] = &["scalar", "neon", "dotprod"];
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_endian = "little")
)))]
pub(crate) const LEVELS: &[&str] = &["scalar"];

/// The highest level of [`LEVELS`] this CPU runs.
pub(crate) fn detected_level() -> usize {
    #[cfg(target_arch = "x86_64")]
    return super::x86::detected_level();
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    return super::aarch64::detected_level();
    #[allow(unreachable_code)]
    0
}

/// The level `EDGELM_CPU` asks for, or why it cannot be honoured (an unknown name, or
/// a level this CPU lacks); `None` when it is unset.
fn pin() -> Option<Result<usize, String>> {
    let want = std::env::var("EDGELM_CPU").ok()?;
    Some(match LEVELS.iter().position(|l| *l == want) {
        None => Err(format!(
            "EDGELM_CPU={want} is not an instruction set of this architecture (one of: {})",
            LEVELS.join(", ")
        )),
        Some(l) if l > detected_level() => Err(format!(
            "EDGELM_CPU={want}: this CPU lacks it (it runs: {})",
            LEVELS[..=detected_level()].join(", ")
        )),
        Some(l) => Ok(l),
    })
}

/// The level `EDGELM_CPU` pins, when valid (the kernels ignore an invalid one).
fn pinned_level() -> Option<usize> {
    pin()?.ok()
}

/// Why `EDGELM_CPU` cannot be honoured, or `None` when it is unset or valid. Programs
/// check this before running: a benchmark of the wrong instruction set would mislead.
pub(crate) fn cpu_pin_error() -> Option<String> {
    pin()?.err()
}

/// The kernel table of `level` (an index into [`LEVELS`], capped at what this CPU
/// runs): the scalar definitions overlaid by each SIMD set up to that level.
pub(crate) fn select(level: usize) -> Kernels {
    #[allow(unused_mut)]
    let mut k = super::scalar::kernels();
    let level = level.min(detected_level());
    #[cfg(target_arch = "x86_64")]
    super::x86::upgrade(&mut k, level);
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    super::aarch64::upgrade(&mut k, level);
    let _ = level;
    k
}
