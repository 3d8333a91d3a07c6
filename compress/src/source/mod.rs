//! Where the compressor's tensors come from: a Hugging Face safetensors directory or a
//! GGUF file. Either way the result is a [`Checkpoint`]: GGUF metadata plus a list of
//! tensors under their GGUF names, each loaded lazily as f32 when its turn comes.

mod gguf_file;
mod hf_dir;
pub mod names;
pub mod safetensors;

use std::path::{Path, PathBuf};

use edgelm_runtime::gguf::{GgufFile, MetaValue};
pub use edgelm_runtime::model::arch::hf_names::HfLayout;

use crate::CompressError;
use safetensors::SafetensorsSet;

/// One tensor of the output file, and where its values come from.
#[derive(Clone, Debug)]
pub struct SourceTensor {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Hugging Face name (`model.layers.0.self_attn.q_proj.weight`), which LoRA adapters
    /// use; `None` for tensors with no HF counterpart.
    pub hf_name: Option<String>,
    /// ggml order: `dims[0]` is the row length.
    pub dims: Vec<u64>,
    /// Type in the source (`F32`, `BF16`, `Q4_1`, ...) and its size there.
    pub src_type: String,
    pub src_bytes: u64,
    /// `llama` q/k projections: the output stores the rows permuted for ggml's rope, per
    /// head, with this many heads. [`Checkpoint::load`] always returns HF row order.
    pub rope_heads: Option<usize>,
    /// How the checkpoint stores the weight relative to the GGUF tensor (GPT-2's Conv1D
    /// transposed, Gemma's norms without their +1); [`Checkpoint::load`] returns the
    /// checkpoint's layout, [`SourceTensor::to_ggml`] the file's.
    pub layout: HfLayout,
    loc: Loc,
}

/// Where a tensor's values are.
#[derive(Clone, Debug)]
pub(crate) enum Loc {
    /// The n-th tensor of the store.
    Stored(usize),
    /// Computed from the config (Llama-3 `rope_freqs`).
    Computed(Vec<f32>),
}

impl SourceTensor {
    pub fn cols(&self) -> usize {
        self.dims[0] as usize
    }
    pub fn rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }
}

enum Store {
    Safetensors(SafetensorsSet),
    Gguf(GgufFile),
}

/// A model ready to be compressed.
pub struct Checkpoint {
    pub path: PathBuf,
    /// GGUF `general.architecture`.
    pub arch: String,
    /// Metadata for the output file, except `general.file_type`,
    /// `general.quantization_version` and `general.alignment`, which the writer sets.
    pub metadata: Vec<(String, MetaValue)>,
    pub tensors: Vec<SourceTensor>,
    pub n_layers: usize,
    /// Whether the model has its own `output.weight` (else it is tied to `token_embd`).
    pub has_output: bool,
    /// Things the user should know (a source that is already quantized).
    pub warnings: Vec<String>,
    store: Store,
}

impl Checkpoint {
    /// A directory is read as a Hugging Face checkpoint, a file as GGUF.
    pub fn open(path: &Path) -> Result<Checkpoint, CompressError> {
        if path.is_dir() {
            return hf_dir::open(path);
        }
        if !path.exists() {
            return Err(CompressError::input(path, "no such file or directory"));
        }
        crate::input_file::check_regular(path)?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            return Err(CompressError::input(
                path,
                "ONNX input is not supported yet; export the model as a Hugging Face safetensors directory",
            ));
        }
        gguf_file::open(path)
    }

    /// The tensor's values as f32, rows in Hugging Face order. A NaN or infinity is an
    /// error naming the tensor: it would quantize to garbage and measure as no error.
    pub fn load(&self, t: &SourceTensor) -> Result<Vec<f32>, CompressError> {
        let (v, file) = match (&t.loc, &self.store) {
            (Loc::Computed(v), _) => (v.clone(), self.path.as_path()),
            (Loc::Stored(i), Store::Safetensors(set)) => {
                let e = &set.entries()[*i];
                (set.load_f32(e)?, set.shard_path(e))
            }
            (Loc::Stored(i), Store::Gguf(f)) => (gguf_file::load(f, *i, t)?, f.path()),
        };
        if let Some(at) = v.iter().position(|x| !x.is_finite()) {
            // The name the file itself uses.
            let name = match self.store {
                Store::Gguf(_) => &t.name,
                Store::Safetensors(_) => t.hf_name.as_ref().unwrap_or(&t.name),
            };
            return Err(CompressError::input(
                file,
                format!(
                    "tensor '{}' holds {} (element {at}); refusing to quantize a weight that is not a number",
                    name, v[at]
                ),
            ));
        }
        Ok(v)
    }

    /// Used by the Hugging Face importer.
    pub(crate) fn from_safetensors(
        path: PathBuf,
        arch: String,
        metadata: Vec<(String, MetaValue)>,
        tensors: Vec<SourceTensor>,
        set: SafetensorsSet,
    ) -> Checkpoint {
        Checkpoint::new(path, arch, metadata, tensors, Store::Safetensors(set))
    }

    fn new(
        path: PathBuf,
        arch: String,
        metadata: Vec<(String, MetaValue)>,
        tensors: Vec<SourceTensor>,
        store: Store,
    ) -> Checkpoint {
        let n_layers = tensors
            .iter()
            .filter_map(|t| names::layer_of(&t.name))
            .max()
            .map_or(0, |l| l + 1);
        let has_output = tensors.iter().any(|t| t.name == "output.weight");
        Checkpoint {
            path,
            arch,
            metadata,
            tensors,
            n_layers,
            has_output,
            warnings: Vec::new(),
            store,
        }
    }
}

impl SourceTensor {
    pub(crate) fn new(
        name: String,
        hf_name: Option<String>,
        dims: Vec<u64>,
        src_type: String,
        src_bytes: u64,
        rope_heads: Option<usize>,
        loc: Loc,
    ) -> SourceTensor {
        SourceTensor {
            name,
            hf_name,
            dims,
            src_type,
            src_bytes,
            rope_heads,
            layout: HfLayout::Same,
            loc,
        }
    }

    pub(crate) fn with_layout(mut self, layout: HfLayout) -> SourceTensor {
        self.layout = layout;
        self
    }

    /// The shape of the weight as the checkpoint stores it, `[rows, cols]` row-major
    /// (what LoRA adapters are sized against): `[in, out]` for a Conv1D.
    pub fn source_shape(&self) -> [usize; 2] {
        match self.layout {
            HfLayout::Transposed => [self.cols(), self.rows()],
            _ => [self.rows(), self.cols()],
        }
    }

    /// Values in the checkpoint's layout (from [`Checkpoint::load`], perhaps merged) to
    /// the GGUF file's: Conv1D transposed, Gemma norms + 1 (rounded to the source's
    /// 16-bit type, as the converter adds in it), `llama` q/k rows permuted.
    pub fn to_ggml(&self, v: Vec<f32>) -> Vec<f32> {
        let v = match self.layout {
            HfLayout::Same => v,
            HfLayout::Transposed => transpose(&v, self.cols(), self.rows()),
            HfLayout::PlusOne => v
                .into_iter()
                .map(|x| match self.src_type.as_str() {
                    "BF16" => half::bf16::from_f32(x + 1.0).to_f32(),
                    "F16" => half::f16::from_f32(x + 1.0).to_f32(),
                    _ => x + 1.0,
                })
                .collect(),
        };
        match self.rope_heads {
            Some(h) => names::permute_rows(&v, self.cols(), h),
            None => v,
        }
    }
}

/// `m` (`[rows, cols]`, row-major) transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for (i, row) in m.chunks_exact(cols.max(1)).enumerate() {
        for (j, &x) in row.iter().enumerate() {
            t[j * rows + i] = x;
        }
    }
    t
}
