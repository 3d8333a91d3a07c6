//! `GgufWriter`: collects metadata and tensors, then writes a GGUF v3 file to a temporary
//! name and renames it into place, so no half-written file is ever left at the target.
//!
//! Tensors either carry their bytes ([`GgufWriter::add_tensor`]) or are declared by shape
//! and type alone ([`GgufWriter::add_tensor_info`]) and streamed in order through a
//! [`TensorSink`] by [`GgufWriter::write_streaming`]: the header (which holds every
//! tensor's offset) depends only on shapes and types, so a compressor never needs the
//! whole model in memory.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use edgelm_kernels::quant::GgmlType;

use super::error::GgufError;
use super::reader::tensor_size;
use super::value::{MetaArray, MetaValue};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    n_bytes: u64,
    /// `None` for tensors whose bytes arrive through a [`TensorSink`].
    data: Option<Vec<u8>>,
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
        self.push_tensor(name.into(), dims, ty, Some(data))
    }

    /// Declares a tensor whose bytes are supplied later, in declaration order, through
    /// the [`TensorSink`] of [`GgufWriter::write_streaming`].
    pub fn add_tensor_info(
        &mut self,
        name: impl Into<String>,
        dims: Vec<u64>,
        ty: GgmlType,
    ) -> Result<(), GgufError> {
        self.push_tensor(name.into(), dims, ty, None)
    }

    fn push_tensor(
        &mut self,
        name: String,
        dims: Vec<u64>,
        ty: GgmlType,
        data: Option<Vec<u8>>,
    ) -> Result<(), GgufError> {
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
        if let Some(data) = &data {
            if data.len() as u64 != n_bytes {
                return Err(fail(format!(
                    "data has {} bytes, expected {n_bytes} for {ty} {dims:?}",
                    data.len()
                )));
            }
        }
        self.tensor_names.insert(name.clone());
        self.tensors.push(PendingTensor {
            name,
            dims,
            ty,
            n_bytes,
            data,
        });
        Ok(())
    }

    /// The whole file in memory.
    ///
    /// # Panics
    /// When a tensor was declared with [`GgufWriter::add_tensor_info`]: its bytes can only
    /// come through [`GgufWriter::write_streaming`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sink = TensorSink::new(&mut out, self, Path::new("<memory>"));
        sink.header()
            .and_then(|()| sink.finish())
            .expect("to_bytes needs every tensor's data");
        out
    }

    /// Writes the file to `<path>.tmp-<pid>-<n>` in the same folder, syncs it to disk and
    /// renames it to `path`. On any error the temporary file is removed. Every tensor must
    /// have been added with its data.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        self.write_streaming(path, |_| Ok::<(), GgufError>(()))
    }

    /// Like [`GgufWriter::write`], but `fill` supplies the bytes of the tensors declared
    /// with [`GgufWriter::add_tensor_info`], in declaration order, through the sink. If
    /// `fill` fails, or leaves a tensor without data, the temporary file is removed and
    /// nothing appears at `path`.
    pub fn write_streaming<E: From<GgufError>>(
        &self,
        path: impl AsRef<Path>,
        fill: impl FnOnce(&mut TensorSink<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.write_streaming_then(path, fill, |_| Ok(()))
    }

    /// [`GgufWriter::write_streaming`], running `before_rename` on the complete, synced
    /// temporary file just before it is renamed into place: what it writes besides (a
    /// report) then exists only if the file does, and its failure leaves neither.
    pub fn write_streaming_then<E: From<GgufError>>(
        &self,
        path: impl AsRef<Path>,
        fill: impl FnOnce(&mut TensorSink<'_>) -> Result<(), E>,
        before_rename: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = path.as_ref();
        if let Some(msg) = &self.alignment_error {
            return Err(GgufError::Writer {
                msg: format!("{}: {msg}", path.display()),
            }
            .into());
        }
        let Some(file_name) = path.file_name() else {
            return Err(GgufError::Writer {
                msg: format!("{}: not a file path", path.display()),
            }
            .into());
        };
        // Unique per process and call: two writers never share a temporary file.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut tmp_name = file_name.to_os_string();
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        // Removed if SIGINT/SIGTERM ends the process mid-write (where the program asked).
        let _guard = crate::process::TempFileGuard::new(&tmp);
        let result = self
            .write_synced(&tmp, fill)
            .and_then(|()| before_rename(&tmp))
            .and_then(|()| {
                fs::rename(&tmp, path).map_err(|e| {
                    GgufError::io(path, "cannot rename temporary file into place", e).into()
                })
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

    fn write_synced<E: From<GgufError>>(
        &self,
        tmp: &PathBuf,
        fill: impl FnOnce(&mut TensorSink<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let file = File::create(tmp).map_err(|e| GgufError::io(tmp, "cannot create", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        {
            let mut sink = TensorSink::new(&mut w, self, tmp);
            sink.header()?;
            fill(&mut sink)?;
            sink.finish()?;
        }
        w.flush()
            .map_err(|e| GgufError::io(tmp, "cannot write", e))?;
        let file = w
            .into_inner()
            .map_err(|e| GgufError::io(tmp, "cannot write", e.into_error()))?;
        file.sync_all()
            .map_err(|e| GgufError::io(tmp, "cannot sync", e))?;
        Ok(())
    }

    /// Everything before the data section: small, so built in memory.
    fn header_bytes(&self) -> Vec<u8> {
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
        let mut offset: u64 = 0;
        for t in &self.tensors {
            put_string(&mut header, &t.name);
            header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.ty.id().to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            offset += padded(t.n_bytes, self.alignment);
        }
        header
    }
}

/// Receives tensor data in declaration order while a file is being written; tensors
/// added with their data are written by the sink itself when their turn comes.
pub struct TensorSink<'a> {
    w: &'a mut dyn Write,
    writer: &'a GgufWriter,
    path: &'a Path,
    next: usize,
}

impl<'a> TensorSink<'a> {
    fn new(w: &'a mut dyn Write, writer: &'a GgufWriter, path: &'a Path) -> Self {
        TensorSink {
            w,
            writer,
            path,
            next: 0,
        }
    }

    fn io(&self, e: io::Error) -> GgufError {
        GgufError::io(self.path, "cannot write", e)
    }

    fn header(&mut self) -> Result<(), GgufError> {
        let header = self.writer.header_bytes();
        let pad = padded(header.len() as u64, self.writer.alignment) - header.len() as u64;
        self.w.write_all(&header).map_err(|e| self.io(e))?;
        write_zeros(self.w, pad).map_err(|e| self.io(e))
    }

    fn put(&mut self, data: &[u8]) -> Result<(), GgufError> {
        let n = data.len() as u64;
        self.w.write_all(data).map_err(|e| self.io(e))?;
        write_zeros(self.w, padded(n, self.writer.alignment) - n).map_err(|e| self.io(e))?;
        self.next += 1;
        Ok(())
    }

    /// Writes the tensors that came with their data, up to the next declared-only one.
    fn flush_inline(&mut self) -> Result<(), GgufError> {
        let tensors = &self.writer.tensors;
        while let Some(data) = tensors.get(self.next).and_then(|t| t.data.as_deref()) {
            self.put(data)?;
        }
        Ok(())
    }

    /// Supplies the bytes of the declared tensor `name`, which must be the next one.
    pub fn write(&mut self, name: &str, data: &[u8]) -> Result<(), GgufError> {
        self.flush_inline()?;
        let fail = |msg: String| GgufError::Writer {
            msg: format!("{}: tensor '{name}': {msg}", self.path.display()),
        };
        let Some(t) = self.writer.tensors.get(self.next) else {
            return Err(fail("no more tensors were declared".into()));
        };
        if t.name != name {
            return Err(fail(format!("expected tensor '{}' next", t.name)));
        }
        if data.len() as u64 != t.n_bytes {
            return Err(fail(format!(
                "data has {} bytes, expected {} for {} {:?}",
                data.len(),
                t.n_bytes,
                t.ty,
                t.dims
            )));
        }
        self.put(data)
    }

    fn finish(&mut self) -> Result<(), GgufError> {
        self.flush_inline()?;
        match self.writer.tensors.get(self.next) {
            None => Ok(()),
            Some(t) => Err(GgufError::Writer {
                msg: format!(
                    "{}: tensor '{}' was declared but no data was written for it",
                    self.path.display(),
                    t.name
                ),
            }),
        }
    }
}

/// Padding, in chunks: the alignment may be far larger than any buffer we want.
fn write_zeros(w: &mut dyn Write, mut n: u64) -> io::Result<()> {
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
