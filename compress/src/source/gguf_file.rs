//! A GGUF file as the compressor's input (re-quantization): metadata copied, tensors
//! dequantized to f32 one at a time.

use std::path::Path;

use edgelm_kernels::quant::{dequantize_row, GgmlType};
use edgelm_runtime::gguf::GgufFile;
use edgelm_runtime::model::arch::hf_names::{gguf_to_hf, hf_to_gguf, HfLayout, HfMapped};
use edgelm_runtime::model::ModelConfig;

use super::{names, Checkpoint, Loc, SourceTensor, Store};
use crate::CompressError;

/// Keys the writer sets for the new file.
const REWRITTEN: [&str; 3] = [
    "general.file_type",
    "general.quantization_version",
    "general.alignment",
];

pub(super) fn open(path: &Path) -> Result<Checkpoint, CompressError> {
    let f = GgufFile::open(path)?;
    // The runtime's own checks of the hyper-parameters (head counts, block_count against
    // the tensors, RoPE base, epsilon): an input it could not run is no input to convert.
    let config = ModelConfig::from_gguf(&f)?;
    let arch = f
        .get_str("general.architecture")?
        .ok_or_else(|| CompressError::input(path, "no general.architecture"))?
        .to_string();
    let head_count = |key: &str| -> Result<Option<usize>, CompressError> {
        Ok(f.get_u32(&format!("{arch}.{key}"))?.map(|v| v as usize))
    };
    let n_head = head_count("attention.head_count")?;
    let n_head_kv = head_count("attention.head_count_kv")?.or(n_head);
    let metadata = f
        .metadata()
        .iter()
        .filter(|(k, _)| !REWRITTEN.contains(&k.as_str()))
        .cloned()
        .collect();
    // The HF names LoRA adapters use, from the architecture's table (llama's without one).
    let spec = edgelm_runtime::model::arch::find(&arch);
    let hf_of = |gguf: &str| -> (Option<String>, HfLayout) {
        let Some(spec) = spec else {
            return (names::to_hf(gguf), HfLayout::Same);
        };
        let Some(hf) = gguf_to_hf(spec.hf_names, gguf) else {
            return (None, HfLayout::Same);
        };
        // Only GPT-2's Conv1D layout matters here (LoRA targets): the values are read
        // back transposed to the checkpoint's [in, out]. Gemma's norms keep the file's
        // +1 (no adapter targets a norm).
        let layout = match hf_to_gguf(spec.hf_names, &hf) {
            HfMapped::Tensor(_, HfLayout::Transposed) => HfLayout::Transposed,
            _ => HfLayout::Same,
        };
        (Some(hf), layout)
    };
    let mut quantized = Vec::new();
    let bad =
        |name: &str, msg: String| CompressError::input(path, format!("tensor '{name}': {msg}"));
    let tensors = f
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, info)| {
            if info.ty.is_quantized() {
                quantized.push(info.ty.name());
            }
            // Rows are read in chunks of the row size: an empty row has none.
            if info.dims.contains(&0) {
                return Err(bad(
                    &info.name,
                    format!("has a zero dimension {:?}", info.dims),
                ));
            }
            if names::layer_of(&info.name).is_some_and(|l| l >= config.n_layer) {
                return Err(bad(
                    &info.name,
                    format!("is beyond {arch}.block_count = {}", config.n_layer),
                ));
            }
            // llama.cpp stores `llama` q/k rows permuted; LoRA deltas are in HF order.
            let rope_heads = match (arch.as_str(), info.name.rsplit('.').nth(1)) {
                ("llama", Some("attn_q")) => n_head,
                ("llama", Some("attn_k")) => n_head_kv,
                _ => None,
            };
            if let Some(h) = rope_heads {
                names::check_rope_heads(&info.dims, h).map_err(|m| bad(&info.name, m))?;
            }
            let (hf_name, layout) = hf_of(&info.name);
            if layout == HfLayout::Transposed && info.dims.len() != 2 {
                return Err(bad(&info.name, format!("is {:?}, not a matrix", info.dims)));
            }
            Ok(SourceTensor::new(
                info.name.clone(),
                hf_name,
                info.dims.clone(),
                info.ty.name().to_string(),
                info.n_bytes,
                rope_heads,
                Loc::Stored(i),
            )
            .with_layout(layout))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ckpt = Checkpoint::new(path.to_path_buf(), arch, metadata, tensors, Store::Gguf(f));
    // Every layer block_count announces has tensors (the runtime checked only the count).
    if ckpt.n_layers != config.n_layer {
        return Err(CompressError::input(
            path,
            format!(
                "{}.block_count is {}, but the tensors are for {} layers",
                ckpt.arch, config.n_layer, ckpt.n_layers
            ),
        ));
    }
    if !quantized.is_empty() {
        quantized.sort();
        quantized.dedup();
        ckpt.warnings.push(format!(
            "{} is already quantized ({}); re-quantizing adds the new rounding error on top of the old",
            path.display(),
            quantized.join(", ")
        ));
    }
    Ok(ckpt)
}

pub(super) fn load(
    f: &GgufFile,
    index: usize,
    t: &SourceTensor,
) -> Result<Vec<f32>, CompressError> {
    let info = &f.tensors()[index];
    let ty: GgmlType = info.ty;
    let data = f.tensor_data(info);
    let cols = t.cols();
    let row_bytes = ty
        .row_bytes(cols)
        .ok_or_else(|| CompressError::input(f.path(), format!("tensor '{}': bad row", t.name)))?;
    let mut out = vec![0f32; t.n_elements()];
    for (src, dst) in data.chunks_exact(row_bytes).zip(out.chunks_exact_mut(cols)) {
        dequantize_row(ty, src, dst);
    }
    if t.layout == HfLayout::Transposed {
        // The file's [out, in] rows back to the checkpoint's [in, out].
        return Ok(super::transpose(&out, t.rows(), cols));
    }
    Ok(match t.rope_heads {
        Some(h) => names::unpermute_rows(&out, cols, h),
        None => out,
    })
}
