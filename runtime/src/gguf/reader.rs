//! `GgufFile`: maps a GGUF file, parses and validates all of its header up front, and
//! hands out metadata and zero-copy tensor data.

use crate::fxhash::{map_with_capacity, FxHashMap};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use edgelm_kernels::quant::GgmlType;
use memmap2::Mmap;
use std::sync::Arc;

use super::cursor::Cursor;
use super::error::GgufError;
use super::str_array::StrArray;
use super::value::{MetaArray, MetaValue};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};

/// Bytes [`GgufFile::prefault`] maps per call.
const PREFAULT_STEP: usize = 4 << 20;

/// One tensor as described in the file's header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous row length.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

/// The bytes behind a `GgufFile`: a read-only map of the file, or (for parsing bytes
/// already in memory) an owned buffer.
enum Storage {
    /// Shared with the thread [`GgufFile::prefault`] starts.
    Map(Arc<Mmap>),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Map(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed, validated GGUF file.
pub struct GgufFile {
    path: PathBuf,
    storage: Storage,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, MetaValue)>,
    meta_index: FxHashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: FxHashMap<String, usize>,
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("n_metadata", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}

/// What parsing the header yields.
struct Header {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, MetaValue)>,
    meta_index: FxHashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: FxHashMap<String, usize>,
}

impl GgufFile {
    /// Maps `path` and parses and validates the whole header and every tensor's byte
    /// range. Any problem is an error naming the file.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        GgufFile::open_as(path.as_ref(), path.as_ref())
    }

    /// [`GgufFile::open`], with `label` naming the file in messages and
    /// [`GgufFile::path`] (a temporary file checked before it is renamed to `label`).
    pub fn open_as(path: impl AsRef<Path>, label: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref().to_path_buf();
        // Before opening: opening a FIFO blocks, and a device has no size. Only a
        // regular file (or a link to one).
        let meta = std::fs::metadata(&path).map_err(|e| GgufError::io(&path, "cannot open", e))?;
        if !meta.is_file() {
            return Err(GgufError::malformed(&path, "not a regular file"));
        }
        let file = File::open(&path).map_err(|e| GgufError::io(&path, "cannot open", e))?;
        let len = file
            .metadata()
            .map_err(|e| GgufError::io(&path, "cannot stat", e))?
            .len();
        if len == 0 {
            // Mapping an empty file fails on some systems; say what is really wrong.
            return Err(GgufError::malformed(
                &path,
                "empty file (0 bytes), not a GGUF file",
            ));
        }
        // SAFETY: the map is read-only and lives as long as `GgufFile`. Like every
        // file-backed map, its contents could change if another process rewrote the file
        // while we hold it; we (and our writer, which renames a new file into place rather
        // than writing over an old one) never do that.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| GgufError::io(&path, "cannot map", e))?;
        let label = label.as_ref().to_path_buf();
        let header = parse(&map, &label)?;
        Ok(GgufFile::assemble(
            label,
            Storage::Map(Arc::new(map)),
            header,
        ))
    }

    /// Maps the tensor data's pages in a background thread, so that the first forward
    /// pass does not stop on a page fault per 64 KiB of weights (with a warm page
    /// cache). Nothing is copied: the pages stay the page cache's. Best effort; for
    /// a file read into memory it does nothing.
    pub fn prefault(&self) {
        self.prefault_except(&[]);
    }

    /// [`GgufFile::prefault`] for every tensor but `skip` (ones that are read once,
    /// e.g. to be rearranged, and then [`GgufFile::release`]d).
    pub fn prefault_except(&self, skip: &[&TensorInfo]) {
        let Storage::Map(map) = &self.storage else {
            return;
        };
        let map = Arc::clone(map);
        let start = usize::try_from(self.data_offset).map_or(map.len(), |o| o.min(map.len()));
        // The data section's ranges between the skipped tensors, in file order.
        let mut holes: Vec<(usize, usize)> =
            skip.iter().filter_map(|t| self.tensor_range(t)).collect();
        holes.sort_unstable();
        let mut ranges = Vec::with_capacity(holes.len() + 1);
        let mut at = start;
        for (s, e) in holes {
            if s > at {
                ranges.push((at, s));
            }
            at = at.max(e);
        }
        ranges.push((at, map.len()));
        let spawned = std::thread::Builder::new()
            .name("edgelm-prefault".into())
            .spawn(move || {
                // memmap2 offers MADV_POPULATE_READ on Linux only (not Android).
                #[cfg(target_os = "linux")]
                let advice = memmap2::Advice::PopulateRead;
                #[cfg(not(target_os = "linux"))]
                let advice = memmap2::Advice::WillNeed;
                // In steps: the kernel holds the process's memory-map lock through
                // each call, and one call for the whole file kept the loading
                // thread's allocations (mmap) waiting until every page was mapped.
                for (mut at, end) in ranges {
                    while at < end {
                        let n = PREFAULT_STEP.min(end - at);
                        // An old kernel without MADV_POPULATE_READ refuses it; the pages
                        // then fault in on first use, as they would have anyway.
                        let _ = map.advise_range(advice, at, n);
                        at += n;
                    }
                }
            });
        // No thread (e.g. a process limit) costs only the faults it would have saved.
        drop(spawned);
    }

    /// Parses a GGUF file already in memory, validating exactly as [`GgufFile::open`]
    /// does. `label` stands in for the path in messages and [`GgufFile::path`].
    pub fn from_bytes(label: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        let path = label.into();
        let header = parse(&bytes, &path)?;
        Ok(GgufFile::assemble(path, Storage::Owned(bytes), header))
    }

    fn assemble(path: PathBuf, storage: Storage, h: Header) -> GgufFile {
        GgufFile {
            path,
            storage,
            version: h.version,
            alignment: h.alignment,
            data_offset: h.data_offset,
            metadata: h.metadata,
            meta_index: h.meta_index,
            tensors: h.tensors,
            tensor_index: h.tensor_index,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of the data section and of every tensor offset in it.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Absolute offset of the data section in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// All metadata, in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    fn wrong_type(&self, key: &str, expected: &'static str, actual: &MetaValue) -> GgufError {
        GgufError::WrongType {
            path: self.path.clone(),
            key: key.to_string(),
            expected,
            actual: actual.type_name(),
        }
    }

    /// An integer of any width, range-checked into `T`.
    fn get_int<T: TryFrom<i128>>(
        &self,
        key: &str,
        target: &'static str,
    ) -> Result<Option<T>, GgufError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Some(i) = v.as_integer() else {
            return Err(self.wrong_type(key, target, v));
        };
        T::try_from(i).map(Some).map_err(|_| GgufError::OutOfRange {
            path: self.path.clone(),
            key: key.to_string(),
            value: i.to_string(),
            target,
        })
    }

    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(key, "string", v)),
        }
    }

    /// Any integer type whose value fits in `u32`.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, GgufError> {
        self.get_int(key, "u32")
    }

    /// Any integer type whose value fits in `u64`.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.get_int(key, "u64")
    }

    /// An `f32`, or an `f64` rounded to `f32`.
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::F32(x)) => Ok(Some(*x)),
            Some(MetaValue::F64(x)) => Ok(Some(*x as f32)),
            Some(v) => Err(self.wrong_type(key, "f32", v)),
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong_type(key, "bool", v)),
        }
    }

    pub fn get_str_array(&self, key: &str) -> Result<Option<&StrArray>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::Array(MetaArray::String(a))) => Ok(Some(a)),
            Some(v) => Err(self.wrong_type(key, "array<string>", v)),
        }
    }

    pub fn get_f32_array(&self, key: &str) -> Result<Option<&[f32]>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::Array(MetaArray::F32(a))) => Ok(Some(a)),
            Some(v) => Err(self.wrong_type(key, "array<f32>", v)),
        }
    }

    pub fn get_i32_array(&self, key: &str) -> Result<Option<&[i32]>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaValue::Array(MetaArray::I32(a))) => Ok(Some(a)),
            Some(v) => Err(self.wrong_type(key, "array<i32>", v)),
        }
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Drops this process's mapped pages of tensor `t` (after copying what it needs
    /// from them), so they no longer count in its resident memory; the bytes stay
    /// readable (a later read maps them again from the page cache or the file).
    /// Best effort: does nothing for a file read into memory or where not supported.
    pub fn release(&self, t: &TensorInfo) {
        let (Storage::Map(map), Some((s, e))) = (&self.storage, self.tensor_range(t)) else {
            return;
        };
        #[cfg(unix)]
        {
            // SAFETY: the map is a shared, read-only map of a file, so dropping its
            // pages loses nothing: any read afterwards, through any slice of it, maps
            // the same bytes again. (The unsafe part of MADV_DONTNEED is private,
            // written-to maps, whose changes it discards.)
            let _ =
                unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, s, e - s) };
        }
        #[cfg(not(unix))]
        let _ = (map, s, e);
    }

    /// Where tensor `t` lies in the file, when it lies inside it.
    fn tensor_range(&self, t: &TensorInfo) -> Option<(usize, usize)> {
        let s = self.data_offset.checked_add(t.offset)?;
        let e = s.checked_add(t.n_bytes)?;
        (e <= self.storage.bytes().len() as u64).then_some((s as usize, e as usize))
    }

    /// The bytes of tensor `t`: a slice of the map, no copy. Ranges of this file's
    /// tensors were checked at open; a `TensorInfo` whose range is not inside this file
    /// (one made up or taken from another file) yields an empty slice.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        match self.tensor_range(t) {
            Some((s, e)) => &self.storage.bytes()[s..e],
            None => &[],
        }
    }
}

/// Parses and validates everything before the data section, and every tensor's range.
fn parse(bytes: &[u8], path: &Path) -> Result<Header, GgufError> {
    let mut c = Cursor::new(bytes, path);
    let magic = c.take(4, "magic")?;
    if magic != GGUF_MAGIC {
        return Err(c.error(format!(
            "not a GGUF file: magic bytes {magic:02x?}, expected {GGUF_MAGIC:02x?} (\"GGUF\")"
        )));
    }
    let version = c.u32("version")?;
    match version {
        2 | 3 => {}
        _ => {
            let hint = match version {
                1 => {
                    "; version 1 used 32-bit counts, convert the file with current llama.cpp tools"
                }
                v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                    "; this looks like a big-endian file"
                }
                _ => "",
            };
            return Err(GgufError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
                hint,
            });
        }
    }
    let n_tensors = c.u64("tensor count")?;
    let n_kv = c.u64("metadata count")?;
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
    let n_kv = c.check_count(n_kv, 13, format_args!("metadata"))?;

    let mut metadata = Vec::with_capacity(n_kv);
    let mut meta_index = map_with_capacity(n_kv);
    for i in 0..n_kv {
        let key = c
            .string("metadata key")
            .map_err(|e| e.context(format!("metadata entry {i}")))?;
        let ty = c
            .u32("metadata value type")
            .map_err(|e| e.context(format!("metadata key '{key}'")))?;
        let value = c
            .value(ty)
            .map_err(|e| e.context(format!("metadata key '{key}'")))?;
        if meta_index.insert(key.clone(), i).is_some() {
            return Err(c.error(format!("duplicate metadata key '{key}'")));
        }
        metadata.push((key, value));
    }

    let alignment = match meta_index.get(ALIGNMENT_KEY).map(|&i| &metadata[i].1) {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_integer() {
            Some(a) if a > 0 && a <= u32::MAX as i128 && (a as u64).is_power_of_two() => a as u64,
            _ => {
                return Err(c.error(format!(
                    "{ALIGNMENT_KEY} must be a nonzero power of two, found {v:?}"
                )))
            }
        },
    };

    // A tensor info takes at least 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type)
    // + 8 (offset) bytes.
    let n_tensors = c.check_count(n_tensors, 32, format_args!("tensor"))?;
    let mut tensors = Vec::with_capacity(n_tensors);
    let mut tensor_index = map_with_capacity(n_tensors);
    for i in 0..n_tensors {
        let name = c
            .string("tensor name")
            .map_err(|e| e.context(format!("tensor {i}")))?;
        let t =
            tensor_info(&mut c, name.clone()).map_err(|e| e.context(format!("tensor '{name}'")))?;
        if tensor_index.insert(name.clone(), i).is_some() {
            return Err(c.error(format!("duplicate tensor name '{name}'")));
        }
        tensors.push(t);
    }

    let file_size = bytes.len() as u64;
    let infos_end = c.pos() as u64;
    // infos_end <= file size and alignment <= 2^32, so this cannot overflow.
    let data_offset = infos_end.div_ceil(alignment) * alignment;
    if !tensors.is_empty() && data_offset > file_size {
        return Err(c.error(format!(
            "data section offset {data_offset} is past the end of the file ({file_size} bytes)"
        )));
    }
    for t in &tensors {
        if t.offset % alignment != 0 {
            return Err(c.error(format!(
                "tensor '{}' offset {} is not a multiple of the alignment {alignment}",
                t.name, t.offset
            )));
        }
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        if end.is_none_or(|e| e > file_size) {
            return Err(c.error(format!(
                "tensor '{}' data runs past end of file (offset {}, size {}, file {file_size})",
                t.name,
                data_offset.saturating_add(t.offset),
                t.n_bytes
            )));
        }
    }

    // Each byte of data belongs to one tensor (llama.cpp requires them packed in order):
    // overlapping tensors would let one file alias weights in ways no writer produces.
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    for pair in by_offset.windows(2) {
        // Both ends were checked against the file size above: no overflow.
        if pair[0].offset + pair[0].n_bytes > pair[1].offset {
            return Err(c.error(format!(
                "tensors '{}' and '{}' overlap (data at {}..{} and from {})",
                pair[0].name,
                pair[1].name,
                pair[0].offset,
                pair[0].offset + pair[0].n_bytes,
                pair[1].offset
            )));
        }
    }

    Ok(Header {
        version,
        alignment,
        data_offset,
        metadata,
        meta_index,
        tensors,
        tensor_index,
    })
}

/// The rest of one tensor info after its name: dims, type, offset; sizes checked.
fn tensor_info(c: &mut Cursor<'_>, name: String) -> Result<TensorInfo, GgufError> {
    let n_dims = c.u32("n_dims")?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(c.error(format!("n_dims is {n_dims}, expected 1..={MAX_DIMS}")));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64("dimension")?);
    }
    let type_id = c.u32("tensor type")?;
    let Some(ty) = GgmlType::from_id(type_id) else {
        return Err(c.error(format!("unknown or unsupported ggml type id {type_id}")));
    };
    let offset = c.u64("tensor offset")?;
    let (n_elements, n_bytes) = tensor_size(&dims, ty).map_err(|m| c.error(m))?;
    Ok(TensorInfo {
        name,
        dims,
        ty,
        offset,
        n_elements,
        n_bytes,
    })
}

/// Element count and byte size of a tensor with `dims` of type `ty`, or why there is none.
pub(crate) fn tensor_size(dims: &[u64], ty: GgmlType) -> Result<(u64, u64), String> {
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| format!("dims {dims:?} overflow the element count"))?;
    let block = ty.block_size() as u64;
    let row = dims.first().copied().unwrap_or(1);
    if row % block != 0 {
        return Err(format!(
            "row length {row} is not a multiple of the {ty} block size {block}"
        ));
    }
    // Each row is whole blocks, so the element count is too.
    let n_bytes = (n_elements / block)
        .checked_mul(ty.type_size() as u64)
        .ok_or_else(|| format!("dims {dims:?} overflow the byte size"))?;
    Ok((n_elements, n_bytes))
}
