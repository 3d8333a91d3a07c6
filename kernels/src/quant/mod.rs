//! ggml tensor element types and their block layouts.
//!
//! Each block format has its own file with the scalar reference quantize/dequantize;
//! these are the definition every fast path is tested against.

use std::fmt;

pub mod float;
mod k_search;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

/// Element type of a tensor, numbered as ggml numbers them (the ids stored in GGUF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    BF16,
}

/// Elements per super-block of the K-quants.
pub const QK_K: usize = 256;

impl GgmlType {
    pub const ALL: [GgmlType; 15] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::BF16,
    ];

    /// The id ggml and GGUF use for this type.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q8_1 => 9,
            GgmlType::Q2_K => 10,
            GgmlType::Q3_K => 11,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::Q8_K => 15,
            GgmlType::BF16 => 30,
        }
    }

    /// The type with ggml id `id`, or `None` for ids we do not support.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GgmlType::ALL.into_iter().find(|t| t.id() == id)
    }

    /// Name as ggml prints it (`Q4_K`, `F16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q8_1 => "Q8_1",
            GgmlType::Q2_K => "Q2_K",
            GgmlType::Q3_K => "Q3_K",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
            GgmlType::Q8_K => "Q8_K",
            GgmlType::BF16 => "BF16",
        }
    }

    /// Parses a name as printed by [`GgmlType::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::Q8_1 => 32,
            GgmlType::Q2_K
            | GgmlType::Q3_K
            | GgmlType::Q4_K
            | GgmlType::Q5_K
            | GgmlType::Q6_K
            | GgmlType::Q8_K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 2 + 16,
            GgmlType::Q4_1 => 2 + 2 + 16,
            GgmlType::Q5_0 => 2 + 4 + 16,
            GgmlType::Q5_1 => 2 + 2 + 4 + 16,
            GgmlType::Q8_0 => 2 + 32,
            GgmlType::Q8_1 => 2 + 2 + 32,
            GgmlType::Q2_K => QK_K / 16 + QK_K / 4 + 2 + 2,
            GgmlType::Q3_K => QK_K / 8 + QK_K / 4 + 12 + 2,
            GgmlType::Q4_K => 2 + 2 + 12 + QK_K / 2,
            GgmlType::Q5_K => 2 + 2 + 12 + QK_K / 8 + QK_K / 2,
            GgmlType::Q6_K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
            GgmlType::Q8_K => 4 + QK_K + QK_K / 16 * 2,
        }
    }

    /// Bytes taken by `n` elements, or `None` when `n` is not a whole number of blocks
    /// or the size overflows.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }

    pub fn is_quantized(self) -> bool {
        !matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a row could not be quantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("quantizing to {0} is not supported")]
    Unsupported(GgmlType),
    #[error("{ty}: a row of {n} elements is not a whole number of {block}-element blocks")]
    NotBlockMultiple {
        ty: GgmlType,
        n: usize,
        block: usize,
    },
    #[error("{n} elements are not a whole number of rows of {n_per_row}")]
    NotRowMultiple { n: usize, n_per_row: usize },
    #[error("{ty}: {n} elements need {expected} bytes, the destination has {got}")]
    DstSize {
        ty: GgmlType,
        n: usize,
        expected: usize,
        got: usize,
    },
}

/// Decodes `dst.len()` elements of type `ty` from `src` into f32.
///
/// # Panics
/// If `src.len()` is not `ty.row_bytes(dst.len())`: callers validate shapes first.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    assert_eq!(
        Some(src.len()),
        ty.row_bytes(dst.len()),
        "dequantize_row({ty}): {} bytes for {} elements",
        src.len(),
        dst.len()
    );
    match ty {
        GgmlType::F32 => float::dequantize_f32(src, dst),
        GgmlType::F16 => float::dequantize_f16(src, dst),
        GgmlType::BF16 => float::dequantize_bf16(src, dst),
        GgmlType::Q4_0 => q4_0::dequantize(src, dst),
        GgmlType::Q4_1 => q4_1::dequantize(src, dst),
        GgmlType::Q5_0 => q5_0::dequantize(src, dst),
        GgmlType::Q5_1 => q5_1::dequantize(src, dst),
        GgmlType::Q8_0 => q8_0::dequantize(src, dst),
        GgmlType::Q8_1 => q8_1::dequantize(src, dst),
        GgmlType::Q2_K => q2_k::dequantize(src, dst),
        GgmlType::Q3_K => q3_k::dequantize(src, dst),
        GgmlType::Q4_K => q4_k::dequantize(src, dst),
        GgmlType::Q5_K => q5_k::dequantize(src, dst),
        GgmlType::Q6_K => q6_k::dequantize(src, dst),
        GgmlType::Q8_K => q8_k::dequantize(src, dst),
    }
}

/// Encodes `src` as type `ty` into `dst`, bit-exact with ggml's reference
/// quantizers (`quantize_row_*_ref`, what llama-quantize runs without an importance
/// matrix) and gguf-py.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    let n = src.len();
    let expected = ty.row_bytes(n).ok_or(QuantError::NotBlockMultiple {
        ty,
        n,
        block: ty.block_size(),
    })?;
    let f: fn(&[f32], &mut [u8]) = match ty {
        GgmlType::F32 => float::quantize_f32,
        GgmlType::F16 => float::quantize_f16,
        GgmlType::BF16 => float::quantize_bf16,
        GgmlType::Q4_0 => q4_0::quantize,
        GgmlType::Q4_1 => q4_1::quantize,
        GgmlType::Q5_0 => q5_0::quantize,
        GgmlType::Q5_1 => q5_1::quantize,
        GgmlType::Q8_0 => q8_0::quantize,
        GgmlType::Q8_1 => q8_1::quantize,
        GgmlType::Q8_K => q8_k::quantize,
        GgmlType::Q2_K => q2_k::quantize,
        GgmlType::Q3_K => q3_k::quantize,
        GgmlType::Q4_K => q4_k::quantize,
        GgmlType::Q5_K => q5_k::quantize,
        GgmlType::Q6_K => q6_k::quantize,
    };
    if dst.len() != expected {
        return Err(QuantError::DstSize {
            ty,
            n,
            expected,
            got: dst.len(),
        });
    }
    f(src, dst);
    Ok(())
}

/// Encodes a row-major 2-D tensor of rows of `n_per_row` elements: `dst` holds the
/// rows back to back, each `ty.row_bytes(n_per_row)` bytes. The bytes equal quantizing
/// each row on its own with [`quantize_row`]. Callers wanting parallelism split the
/// rows themselves.
pub fn quantize_rows(
    ty: GgmlType,
    src: &[f32],
    n_per_row: usize,
    dst: &mut [u8],
) -> Result<(), QuantError> {
    let row_bytes = ty
        .row_bytes(n_per_row)
        .ok_or(QuantError::NotBlockMultiple {
            ty,
            n: n_per_row,
            block: ty.block_size(),
        })?;
    // Empty rows make an empty tensor; anything else must be whole rows.
    let rows = match src.len().checked_div(n_per_row) {
        Some(rows) if rows * n_per_row == src.len() => rows,
        None if src.is_empty() => 0,
        _ => {
            return Err(QuantError::NotRowMultiple {
                n: src.len(),
                n_per_row,
            })
        }
    };
    let expected = rows * row_bytes;
    if dst.len() != expected {
        return Err(QuantError::DstSize {
            ty,
            n: src.len(),
            expected,
            got: dst.len(),
        });
    }
    if rows == 0 {
        return Ok(());
    }
    for (x, q) in src
        .chunks_exact(n_per_row)
        .zip(dst.chunks_exact_mut(row_bytes))
    {
        quantize_row(ty, x, q)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
