//! `GgufWriter`: collects metadata and tensors, then writes a GGUF v3 file to a temporary
//! name and renames it into place, so no half-written file is ever left at the target.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use edgelm_kernels::quant::GgmlType;

use super::error::GgufError;
use super::reader::tensor_size;
use super::value::{MetaArray, MetaValue};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

/// Builds a GGUF file (version 3). Metadata keep the order they were added in; adding a
/// key again replaces its value in place. Tensors are laid out in the order added, each
/// at an aligned offset and padded with zeros to the alignment (as llama.cpp and gguf-py
/// do).
pub struct GgufWriter {
    alignment: u64,
    /// Set when `general.alignment` was given a value that is not a valid alignment.
    alignment_error: Option<String>,
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<PendingTensor>,
    tensor_names: HashSet<String>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

impl GgufWriter {
    /// An empty GGUF v3 file with the default alignment (32).
    pub fn new() -> GgufWriter {
        GgufWriter {
            alignment: DEFAULT_ALIGNMENT,
            alignment_error: None,
            metadata: Vec::new(),
            tensors: Vec::new(),
            tensor_names: HashSet::new(),
        }
    }

    /// Uses `alignment` for the data section and records it as `general.alignment` (u32).
    ///
    /// # Panics
    /// When `alignment` is not a power of two that fits in a `u32`: that is a bug in the
    /// caller, not bad input data.
    pub fn set_alignment(&mut self, alignment: u64) {
        assert!(
            alignment.is_power_of_two() && alignment <= u32::MAX as u64,
            "GGUF alignment must be a nonzero power of two that fits in u32, got {alignment}"
        );
        self.add_metadata(ALIGNMENT_KEY, MetaValue::U32(alignment as u32));
    }

    /// Adds (or replaces, keeping its position) the metadata entry `key`. An integer value
    /// for `general.alignment` also sets the alignment; an invalid one makes
    /// [`GgufWriter::write`] fail (while [`GgufWriter::to_bytes`] still emits it, which
    /// lets tests build files the reader must reject).
    pub fn add_metadata(&mut self, key: impl Into<String>, value: MetaValue) {
        let key = key.into();
        if key == ALIGNMENT_KEY {
            match value.as_integer() {
                Some(a) if a > 0 && a <= u32::MAX as i128 && (a as u64).is_power_of_two() => {
                    self.alignment = a as u64;
                    self.alignment_error = None;
                }
                _ => {
                    self.alignment_error = Some(format!(
                        "{ALIGNMENT_KEY} must be a nonzero power of two, got {value:?}"
                    ))
                }
            }
        }
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key, value)),
        }
    }

    /// Adds a tensor; `dims` in ggml order (`dims[0]` is the row length) and `data`
    /// exactly the bytes ggml stores for that shape and type.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: Vec<u64>,
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<(), GgufError> {
        let name = name.into();
        let fail = |msg: String| GgufError::Writer {
            msg: format!("tensor '{name}': {msg}"),
        };
        if dims.is_empty() || dims.len() > MAX_DIMS {
            return Err(fail(format!(
                "{} dimensions, expected 1..={MAX_DIMS}",
                dims.len()
            )));
        }
        if self.tensor_names.contains(&name) {
            return Err(fail("duplicate tensor name".to_string()));
        }
        let (_, n_bytes) = tensor_size(&dims, ty).map_err(fail)?;
        if data.len() as u64 != n_bytes {
            return Err(fail(format!(
                "data has {} bytes, expected {n_bytes} for {ty} {dims:?}",
                data.len()
            )));
        }
        self.tensor_names.insert(name.clone());
        self.tensors.push(PendingTensor {
            name,
            dims,
            ty,
            data,
        });
        Ok(())
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out)
            .expect("writing to a Vec<u8> cannot fail");
        out
    }

    /// Writes the file to `<path>.tmp-<pid>` in the same folder, syncs it to disk and
    /// renames it to `path`. On any error the temporary file is removed.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let path = path.as_ref();
        if let Some(msg) = &self.alignment_error {
            return Err(GgufError::Writer {
                msg: format!("{}: {msg}", path.display()),
            });
        }
        let Some(file_name) = path.file_name() else {
            return Err(GgufError::Writer {
                msg: format!("{}: not a file path", path.display()),
            });
        };
        let mut tmp_name = file_name.to_os_string();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let result = self.write_synced(&tmp).and_then(|()| {
            fs::rename(&tmp, path)
                .map_err(|e| GgufError::io(path, "cannot rename temporary file into place", e))
        });
        match result {
            Ok(()) => {
                sync_parent_dir(path);
                Ok(())
            }
            Err(e) => {
                // Best effort: the original error is what matters to the caller.
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn write_synced(&self, tmp: &PathBuf) -> Result<(), GgufError> {
        let file = File::create(tmp).map_err(|e| GgufError::io(tmp, "cannot create", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        self.write_to(&mut w)
            .and_then(|()| w.flush())
            .map_err(|e| GgufError::io(tmp, "cannot write", e))?;
        let file = w
            .into_inner()
            .map_err(|e| GgufError::io(tmp, "cannot write", e.into_error()))?;
        file.sync_all()
            .map_err(|e| GgufError::io(tmp, "cannot sync", e))
    }

    /// Streams the file to `w`.
    fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        // Everything before the data section is small; build it in memory.
        let mut header = Vec::new();
        header.extend_from_slice(&GGUF_MAGIC);
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut header, key);
            header.extend_from_slice(&value.type_id().to_le_bytes());
            put_value(&mut header, value);
        }
        let align = self.alignment;
        let mut offset: u64 = 0;
        for t in &self.tensors {
            put_string(&mut header, &t.name);
            header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.ty.id().to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset += padded(t.data.len() as u64, align);
        }
        let pad = |n: usize| padded(n as u64, align) - n as u64;
        w.write_all(&header)?;
        write_zeros(w, pad(header.len()))?;
        for t in &self.tensors {
            w.write_all(&t.data)?;
            write_zeros(w, pad(t.data.len()))?;
        }
        Ok(())
    }
}

/// Padding, in chunks: the alignment may be far larger than any buffer we want.
fn write_zeros(w: &mut impl Write, mut n: u64) -> io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        w.write_all(&ZEROS[..k])?;
        n -= k as u64;
    }
    Ok(())
}

/// `n` rounded up to a multiple of `align` (a power of two).
fn padded(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &MetaValue) {
    match v {
        MetaValue::U8(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        MetaValue::Bool(x) => out.push(u8::from(*x)),
        MetaValue::String(s) => put_string(out, s),
        MetaValue::Array(a) => put_array(out, a),
    }
}

/// Element type, count, elements; nested arrays repeat this for each element.
fn put_array(out: &mut Vec<u8>, a: &MetaArray) {
    out.extend_from_slice(&a.elem_type_id().to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    fn each<T: Copy, const N: usize>(out: &mut Vec<u8>, v: &[T], f: fn(T) -> [u8; N]) {
        for &x in v {
            out.extend_from_slice(&f(x));
        }
    }
    match a {
        MetaArray::U8(v) => out.extend_from_slice(v),
        MetaArray::I8(v) => each(out, v, i8::to_le_bytes),
        MetaArray::U16(v) => each(out, v, u16::to_le_bytes),
        MetaArray::I16(v) => each(out, v, i16::to_le_bytes),
        MetaArray::U32(v) => each(out, v, u32::to_le_bytes),
        MetaArray::I32(v) => each(out, v, i32::to_le_bytes),
        MetaArray::U64(v) => each(out, v, u64::to_le_bytes),
        MetaArray::I64(v) => each(out, v, i64::to_le_bytes),
        MetaArray::F32(v) => each(out, v, f32::to_le_bytes),
        MetaArray::F64(v) => each(out, v, f64::to_le_bytes),
        MetaArray::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        MetaArray::String(v) => v.iter().for_each(|s| put_string(out, s)),
        MetaArray::Array(v) => v.iter().for_each(|inner| put_array(out, inner)),
    }
}

/// Makes the rename durable; failure only weakens crash safety, so it is not an error.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
