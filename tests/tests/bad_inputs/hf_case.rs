//! What the `compress_*` groups share: a case folder holding a copy of the tiny HF Llama
//! checkpoint (`model/`) and an empty `out/`, the usual command over it, and editors for
//! `config.json`-style files and safetensors files.

use std::fs;
use std::path::{Path, PathBuf};

use edgelm_tests::fixtures_dir;
use serde_json::{Map, Value};

use crate::harness::{case_dir, Bin, Case};

/// The checkpoint every case starts from (hidden 64, 2 layers, 4 heads, 2 KV heads,
/// head_dim 16, vocab 512, tied embeddings, F32).
pub fn base_dir() -> PathBuf {
    fixtures_dir().join("lora/base")
}

pub fn adapters_dir() -> PathBuf {
    fixtures_dir().join("lora/adapters")
}

/// A change to a file or folder of a case.
pub type FileEdit = Box<dyn FnOnce(&Path)>;
/// A change to a JSON document.
pub type JsonEdit = Box<dyn FnOnce(&mut Value)>;
/// Keys of a JSON object set (or removed, `None`).
pub type KeyEdits = Vec<(&'static str, Option<Value>)>;

/// The usual arguments, relative to the case folder.
pub const ARGS: [&str; 6] = ["-i", "model", "-o", "out/model.gguf", "-q", "Q8_0"];

/// Numbers the case folders of one group.
pub struct Cases {
    group: &'static str,
    next: usize,
    pub list: Vec<Case>,
}

impl Cases {
    pub fn new(group: &'static str) -> Cases {
        Cases {
            group,
            next: 0,
            list: Vec::new(),
        }
    }

    /// A fresh case folder with an empty `out/`.
    pub fn dir(&mut self) -> PathBuf {
        let dir = case_dir(self.group, self.next);
        self.next += 1;
        fs::create_dir(dir.join("out")).expect("out folder");
        dir
    }

    /// A case folder with `model/` (the base checkpoint) changed by `edit`, and the
    /// compressor run over it with [`ARGS`] plus nothing else; the caller adds
    /// `.mentions(..)` and pushes it.
    pub fn hf(&mut self, name: impl Into<String>, edit: impl FnOnce(&Path)) -> Case {
        self.hf_bare(name, edit).args(ARGS)
    }

    /// [`Cases::hf`] with no arguments: the caller gives them all.
    pub fn hf_bare(&mut self, name: impl Into<String>, edit: impl FnOnce(&Path)) -> Case {
        let dir = self.dir();
        copy_dir(&base_dir(), &dir.join("model"));
        edit(&dir.join("model"));
        Case::new(name, Bin::Compress, &dir)
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("copy folder");
    for e in fs::read_dir(from).expect("fixture folder") {
        let e = e.expect("fixture entry");
        fs::copy(e.path(), to.join(e.file_name())).expect("copy fixture");
    }
}

/// Reads a JSON file, lets `f` change it, writes it back.
pub fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&fs::read(path).expect("json file")).expect("json");
    f(&mut v);
    fs::write(path, serde_json::to_vec_pretty(&v).expect("json")).expect("write json");
}

/// Sets (or, with `None`, removes) one key of a JSON object file; `a.b` reaches into a
/// nested object, which is created when absent.
pub fn set_key(path: &Path, key: &str, value: Option<Value>) {
    edit_json(path, |root| {
        let mut obj = root.as_object_mut().expect("an object");
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("a key");
        for p in parts {
            obj = obj
                .entry(p)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("a nested object");
        }
        match value {
            Some(v) => obj.insert(last.to_string(), v),
            None => obj.remove(last),
        };
    });
}

/// Replaces `path` with a FIFO (opening it for reading blocks until a writer comes).
pub fn make_fifo(path: &Path) {
    let _ = fs::remove_file(path);
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// Replaces `path` with a symbolic link to `target`.
pub fn make_link(path: &Path, target: &str) {
    let _ = fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).expect("symlink");
}

/// Replaces `path` with a sparse file of `len` zero bytes (no disk used).
pub fn make_sparse(path: &Path, len: u64) {
    let f = fs::File::create(path).expect("create");
    f.set_len(len).expect("set_len");
}

/// One tensor of a safetensors file, as stored.
#[derive(Clone)]
pub struct StTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// A safetensors file taken apart: edit the tensors, then [`St::write`] lays them out
/// again with consistent offsets, or [`write_st_raw`] writes any header at all.
pub struct St {
    pub metadata: Option<Value>,
    pub tensors: Vec<StTensor>,
}

impl St {
    pub fn read(path: &Path) -> St {
        let bytes = fs::read(path).expect("safetensors file");
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: Map<String, Value> =
            serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors header");
        let data = &bytes[8 + n..];
        let mut metadata = None;
        let mut tensors = Vec::new();
        for (name, info) in header {
            if name == "__metadata__" {
                metadata = Some(info);
                continue;
            }
            let offsets: Vec<usize> = serde_json::from_value(info["data_offsets"].clone()).unwrap();
            let t = StTensor {
                name,
                dtype: info["dtype"].as_str().unwrap().to_string(),
                shape: serde_json::from_value(info["shape"].clone()).unwrap(),
                data: data[offsets[0]..offsets[1]].to_vec(),
            };
            tensors.push((offsets[0], t));
        }
        // File order, so a rewrite keeps the layout.
        tensors.sort_by_key(|(start, _)| *start);
        St {
            metadata,
            tensors: tensors.into_iter().map(|(_, t)| t).collect(),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> &mut StTensor {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    /// The header as a JSON object (offsets in file order) and the data buffer.
    pub fn layout(&self) -> (Map<String, Value>, Vec<u8>) {
        let mut header = Map::new();
        if let Some(m) = &self.metadata {
            header.insert("__metadata__".into(), m.clone());
        }
        let mut data = Vec::new();
        for t in &self.tensors {
            let start = data.len();
            data.extend_from_slice(&t.data);
            header.insert(
                t.name.clone(),
                serde_json::json!({
                    "dtype": t.dtype, "shape": t.shape, "data_offsets": [start, data.len()]
                }),
            );
        }
        (header, data)
    }

    pub fn write(&self, path: &Path) {
        let (header, data) = self.layout();
        write_st_raw(path, &serde_json::to_vec(&header).unwrap(), &data);
    }
}

/// A safetensors file from any header bytes (padded with spaces to 8 bytes, as the
/// format asks) and a data buffer.
pub fn write_st_raw(path: &Path, header: &[u8], data: &[u8]) {
    let mut h = header.to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    fs::write(path, out).expect("write safetensors");
}

/// Sets the f32 at element `index` of an F32 tensor.
pub fn set_f32(t: &mut StTensor, index: usize, v: f32) {
    assert_eq!(t.dtype, "F32");
    t.data[index * 4..index * 4 + 4].copy_from_slice(&v.to_le_bytes());
}
