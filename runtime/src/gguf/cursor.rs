//! Bounds-checked little-endian reading of GGUF primitives and metadata values.
//!
//! Every read checks the remaining length first, and every count read from the file is
//! checked against the bytes left before anything is allocated, so hostile input yields
//! an error, never a panic or a huge allocation.

use std::path::Path;

use super::error::GgufError;
use super::str_array::StrArray;
use super::value::{min_encoded_size, type_id, type_id_name, MetaArray, MetaValue};

/// Deepest nesting of arrays inside arrays accepted (real files use at most 1).
pub(crate) const MAX_ARRAY_DEPTH: u32 = 8;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], path: &'a Path) -> Cursor<'a> {
        Cursor { buf, pos: 0, path }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn error(&self, msg: impl Into<String>) -> GgufError {
        GgufError::malformed(self.path, msg)
    }

    /// The next `n` bytes; `what` names the item for the truncation message.
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "file truncated: {what} needs {n} bytes at offset {}, only {} left (file {} bytes)",
                self.pos,
                self.remaining(),
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Rejects a count of items of at least `min_size` bytes each that cannot fit in
    /// what is left of the file; returns it as `usize`.
    pub(crate) fn check_count(
        &self,
        count: u64,
        min_size: u64,
        what: std::fmt::Arguments<'_>,
    ) -> Result<usize, GgufError> {
        let need = count.checked_mul(min_size);
        match need {
            Some(need) if need <= self.remaining() as u64 => Ok(count as usize),
            _ => Err(self.error(format!(
                "{what} count {count} at offset {} cannot fit in the {} bytes left",
                self.pos,
                self.remaining()
            ))),
        }
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (no terminator).
    pub(crate) fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let start = self.pos;
        let len = self.u64(what)?;
        // format_args!: the label is only formatted if the check fails (this runs once
        // per vocabulary token).
        let len = self.check_count(len, 1, format_args!("{what} length"))?;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(self.error(format!("{what} at offset {start} is not valid UTF-8 ({e})"))),
        }
    }

    /// `n` strings (the elements of a string array) into one buffer. The common case,
    /// all valid, is one copy per string and one UTF-8 check over the whole buffer;
    /// only a bad array is walked again string by string to say which one is bad.
    fn str_array(&mut self, n: usize) -> Result<StrArray, GgufError> {
        const WHAT: &str = "string array element";
        let start = self.pos;
        // Plain loops over the bytes rather than `take` per string: this runs for
        // every token and merge of a vocabulary.
        let rest = &self.buf[start..];
        let len_at = |at: usize| -> Option<usize> {
            let b = rest.get(at..at.checked_add(8)?)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            usize::try_from(u64::from_le_bytes(a)).ok()
        };
        // First pass: where the array ends and how many text bytes it holds, every
        // length checked against the bytes left.
        let mut at = 0usize;
        let mut total = 0usize;
        let mut fits = true;
        for _ in 0..n {
            match len_at(at).filter(|&len| len <= rest.len() - at - 8) {
                Some(len) => {
                    at += 8 + len;
                    total += len;
                }
                None => {
                    fits = false;
                    break;
                }
            }
        }
        if fits {
            let mut text = Vec::with_capacity(total);
            let mut ends = Vec::with_capacity(n);
            let mut at = 0usize;
            for _ in 0..n {
                // The first pass read these lengths from these bytes and found them in bounds.
                let len = len_at(at).unwrap_or(0);
                text.extend_from_slice(&rest[at + 8..at + 8 + len]);
                ends.push(text.len());
                at += 8 + len;
            }
            if let Some(a) = StrArray::from_parts(text, ends) {
                self.pos = start + at;
                return Ok(a);
            }
        }
        // A bad array: read it string by string, which fails at the first bad one
        // with the message saying what is wrong where.
        for _ in 0..n {
            self.string(WHAT)?;
        }
        // Not reached (the strings are only all valid if the buffer was), but an error
        // rather than a panic.
        Err(self.error(format!("string array at offset {start} is not valid UTF-8")))
    }

    /// A metadata value of type `ty` (the type id has already been read).
    pub(crate) fn value(&mut self, ty: u32) -> Result<MetaValue, GgufError> {
        Ok(match ty {
            type_id::U8 => MetaValue::U8(u8::from_le_bytes(self.array("u8")?)),
            type_id::I8 => MetaValue::I8(i8::from_le_bytes(self.array("i8")?)),
            type_id::U16 => MetaValue::U16(u16::from_le_bytes(self.array("u16")?)),
            type_id::I16 => MetaValue::I16(i16::from_le_bytes(self.array("i16")?)),
            type_id::U32 => MetaValue::U32(u32::from_le_bytes(self.array("u32")?)),
            type_id::I32 => MetaValue::I32(i32::from_le_bytes(self.array("i32")?)),
            type_id::U64 => MetaValue::U64(u64::from_le_bytes(self.array("u64")?)),
            type_id::I64 => MetaValue::I64(i64::from_le_bytes(self.array("i64")?)),
            type_id::F32 => MetaValue::F32(f32::from_le_bytes(self.array("f32")?)),
            type_id::F64 => MetaValue::F64(f64::from_le_bytes(self.array("f64")?)),
            type_id::BOOL => MetaValue::Bool(self.bool()?),
            type_id::STRING => MetaValue::String(self.string("string value")?),
            type_id::ARRAY => MetaValue::Array(self.meta_array(1)?),
            other => return Err(self.error(format!("unknown metadata value type {other}"))),
        })
    }

    fn bool(&mut self) -> Result<bool, GgufError> {
        let at = self.pos;
        match self.take(1, "bool")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.error(format!("bool at offset {at} has byte {b}, expected 0 or 1"))),
        }
    }

    /// Fixed-size elements: one bounds check, then decode from the slice.
    fn fixed<T, const N: usize>(
        &mut self,
        n: usize,
        f: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        // n * N cannot overflow: check_count already bounded n * N by the bytes left.
        let bytes = self.take(n * N, "array elements")?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect())
    }

    /// An array: element type id, u64 count, then the elements. `depth` counts the
    /// arrays this one sits in (1 for a top-level array).
    pub(crate) fn meta_array(&mut self, depth: u32) -> Result<MetaArray, GgufError> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(self.error(format!(
                "arrays nested deeper than {MAX_ARRAY_DEPTH} levels at offset {}",
                self.pos
            )));
        }
        let ty_at = self.pos;
        let ty = self.u32("array element type")?;
        let Some(min) = min_encoded_size(ty) else {
            return Err(self.error(format!("unknown array element type {ty} at offset {ty_at}")));
        };
        let count = self.u64("array length")?;
        let n = self.check_count(count, min, format_args!("array<{}>", type_id_name(ty)))?;
        Ok(match ty {
            type_id::U8 => MetaArray::U8(self.take(n, "array elements")?.to_vec()),
            type_id::I8 => MetaArray::I8(self.fixed(n, i8::from_le_bytes)?),
            type_id::U16 => MetaArray::U16(self.fixed(n, u16::from_le_bytes)?),
            type_id::I16 => MetaArray::I16(self.fixed(n, i16::from_le_bytes)?),
            type_id::U32 => MetaArray::U32(self.fixed(n, u32::from_le_bytes)?),
            type_id::I32 => MetaArray::I32(self.fixed(n, i32::from_le_bytes)?),
            type_id::U64 => MetaArray::U64(self.fixed(n, u64::from_le_bytes)?),
            type_id::I64 => MetaArray::I64(self.fixed(n, i64::from_le_bytes)?),
            type_id::F32 => MetaArray::F32(self.fixed(n, f32::from_le_bytes)?),
            type_id::F64 => MetaArray::F64(self.fixed(n, f64::from_le_bytes)?),
            type_id::BOOL => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.bool()?);
                }
                MetaArray::Bool(v)
            }
            type_id::STRING => MetaArray::String(self.str_array(n)?),
            // ARRAY: min_encoded_size accepted no other id.
            _ => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.meta_array(depth + 1)?);
                }
                MetaArray::Array(v)
            }
        })
    }
}
