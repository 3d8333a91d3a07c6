//! Tensors of a Hugging Face checkpoint: one `model.safetensors`, or the shards named by
//! `model.safetensors.index.json`, memory-mapped and read one tensor at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors};

use crate::CompressError;

/// Where one tensor's bytes are.
#[derive(Clone, Debug)]
pub struct StEntry {
    pub name: String,
    /// Row-major shape, outermost dimension first (PyTorch order).
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    shard: usize,
    /// Byte range inside the shard's mapping.
    start: usize,
    end: usize,
}

impl StEntry {
    pub fn n_bytes(&self) -> usize {
        self.end - self.start
    }
}

pub struct Shard {
    path: PathBuf,
    map: Mmap,
}

/// All tensors of a checkpoint, in shard order and, within a shard, in file order.
pub struct SafetensorsSet {
    shards: Vec<Shard>,
    entries: Vec<StEntry>,
}

impl SafetensorsSet {
    /// Opens `dir/model.safetensors`, or every shard listed in
    /// `dir/model.safetensors.index.json`.
    pub fn open_dir(dir: &Path) -> Result<SafetensorsSet, CompressError> {
        let index = dir.join("model.safetensors.index.json");
        let single = dir.join("model.safetensors");
        let mut weight_map = None;
        let files = if crate::input_file::is_present(&index) {
            let (files, map) = shard_files(&index)?;
            weight_map = Some(map);
            files
        } else if crate::input_file::is_present(&single) {
            vec![single]
        } else {
            return Err(CompressError::input(
                dir,
                "no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are read)",
            ));
        };
        let mut set = SafetensorsSet {
            shards: Vec::new(),
            entries: Vec::new(),
        };
        for path in files {
            set.add_shard(path)?;
        }
        // A name in two shards (or twice in the index's view) would be two tensors of one
        // name in the output.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for e in &set.entries {
            if let Some(first) = seen.insert(&e.name, e.shard) {
                return Err(CompressError::input(
                    &set.shards[e.shard].path,
                    format!(
                        "tensor '{}' is also in {}",
                        e.name,
                        set.shards[first].path.display()
                    ),
                ));
            }
        }
        if let Some(map) = weight_map {
            set.check_weight_map(&index, &map)?;
        }
        Ok(set)
    }

    /// The index and the shards agree: each tensor is where the index says, and the
    /// index names no tensor the shards lack.
    fn check_weight_map(
        &self,
        index: &Path,
        map: &HashMap<String, PathBuf>,
    ) -> Result<(), CompressError> {
        for e in &self.entries {
            let shard = &self.shards[e.shard].path;
            if map.get(&e.name) != Some(shard) {
                return Err(CompressError::input(
                    index,
                    format!(
                        "tensor '{}' is in {}, but weight_map does not list it there",
                        e.name,
                        shard.display()
                    ),
                ));
            }
        }
        if let Some(name) = map.keys().find(|n| self.find(n).is_none()) {
            return Err(CompressError::input(
                index,
                format!("weight_map lists '{name}', which no shard holds"),
            ));
        }
        Ok(())
    }

    fn add_shard(&mut self, path: PathBuf) -> Result<(), CompressError> {
        let file = crate::input_file::open_regular(&path)?;
        // SAFETY: the file is mapped read-only; the compressor never writes to its inputs,
        // and a checkpoint changed by someone else while we read it is outside our contract.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| CompressError::io(&path, "cannot map", e))?;
        let (header_len, meta) = SafeTensors::read_metadata(&map).map_err(|e| {
            CompressError::input(
                &path,
                format!("not a valid safetensors file: {}", describe(&e)),
            )
        })?;
        let data_start = 8 + header_len;
        let shard = self.shards.len();
        for name in meta.offset_keys() {
            let info = meta.info(&name).expect("offset_keys lists known tensors");
            let (a, b) = info.data_offsets;
            self.entries.push(StEntry {
                name,
                shape: info.shape.clone(),
                dtype: info.dtype,
                shard,
                start: data_start + a,
                end: data_start + b,
            });
        }
        self.shards.push(Shard { path, map });
        Ok(())
    }

    pub fn entries(&self) -> &[StEntry] {
        &self.entries
    }

    pub fn find(&self, name: &str) -> Option<&StEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn shard_path(&self, e: &StEntry) -> &Path {
        &self.shards[e.shard].path
    }

    /// The tensor as f32 (from F32, F16 or BF16), in its row-major order.
    pub fn load_f32(&self, e: &StEntry) -> Result<Vec<f32>, CompressError> {
        let shard = &self.shards[e.shard];
        let bytes = &shard.map[e.start..e.end];
        let out = match e.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(CompressError::input(
                    &shard.path,
                    format!(
                        "tensor '{}' has dtype {other:?}; only F32, F16 and BF16 are read",
                        e.name
                    ),
                ))
            }
        };
        // The pages were only needed for this conversion: drop them from our resident set
        // so reading a whole checkpoint does not grow RSS to the checkpoint's size.
        #[cfg(unix)]
        // SAFETY: the mapping is read-only and file-backed; after MADV_DONTNEED a later
        // access re-reads the same bytes from the file, so no slice observes a change.
        unsafe {
            let _ = shard.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                e.start,
                e.end - e.start,
            );
        }
        Ok(out)
    }
}

/// `model.safetensors.index.json`: the distinct shard files of its `weight_map`, sorted,
/// and where each tensor is.
type WeightMap = HashMap<String, PathBuf>;

fn shard_files(index: &Path) -> Result<(Vec<PathBuf>, WeightMap), CompressError> {
    let text = crate::input_file::read_text(index, crate::input_file::JSON_LIMIT)?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CompressError::input(index, format!("not valid JSON: {e}")))?;
    let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(CompressError::input(index, "no \"weight_map\" object"));
    };
    let dir = index.parent().unwrap_or(Path::new("."));
    if map.is_empty() {
        return Err(CompressError::input(index, "\"weight_map\" is empty"));
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut where_ = WeightMap::new();
    for (tensor, file) in map {
        // A shard is a file beside the index: no folders, no way out of the checkpoint.
        let plain = file.as_str().filter(|f| {
            let p = Path::new(f);
            p.components().count() == 1
                && matches!(p.components().next(), Some(std::path::Component::Normal(_)))
        });
        let Some(file) = plain else {
            return Err(CompressError::input(
                index,
                format!(
                    "weight_map entry for '{tensor}' is {file}, not a file name beside the index"
                ),
            ));
        };
        let path = dir.join(file);
        if !files.contains(&path) {
            files.push(path.clone());
        }
        where_.insert(tensor.clone(), path);
    }
    files.sort();
    Ok((files, where_))
}

fn describe(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::MetadataIncompleteBuffer => {
            "its size does not match the header (truncated or padded)".to_string()
        }
        SafeTensorError::HeaderTooSmall | SafeTensorError::InvalidHeaderLength => {
            "truncated header".to_string()
        }
        other => other.to_string(),
    }
}
