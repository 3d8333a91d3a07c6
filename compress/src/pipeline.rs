//! The compression itself: choose each tensor's type, then load, merge, quantize and
//! measure a few tensors at a time in parallel, writing them in file order through the
//! GGUF writer's stream. Peak memory is a window of tensors, never the model.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use edgelm_kernels::quant::{dequantize_row, quantize_row, GgmlType, QuantError};
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};
use edgelm_runtime::model::check_file;
use rayon::prelude::*;

use crate::lora::LoraAdapter;
use crate::recipe::{self, Choice, ModelInfo, Override, Quant, TensorShape};
use crate::report::{rel, LoraEffect, Report, TensorReport};
use crate::source::{Checkpoint, HfLayout, SourceTensor};
use crate::CompressError;

/// ggml's quantization format version, written as `general.quantization_version`.
const QUANTIZATION_VERSION: u32 = 2;

pub struct Options {
    pub quant: Quant,
    pub overrides: Vec<Override>,
    /// Merged in order.
    pub loras: Vec<LoraAdapter>,
    pub threads: usize,
}

/// The type chosen for every tensor of `ckpt`, in file order. An override that matches
/// no tensor is an error: it is almost always a typo.
pub fn plan(ckpt: &Checkpoint, opts: &Options) -> Result<Vec<Choice>, CompressError> {
    let shapes: Vec<TensorShape> = ckpt
        .tensors
        .iter()
        .map(|t| TensorShape {
            name: &t.name,
            dims: &t.dims,
        })
        .collect();
    let choices = recipe::choose_all(opts.quant, &opts.overrides, &model_info(ckpt), &shapes);
    let mut used = vec![false; opts.overrides.len()];
    for i in choices.iter().filter_map(|c| c.by) {
        used[i] = true;
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(CompressError::Recipe(format!(
            "--tensor-type '{}': the pattern matches no quantizable tensor of {}",
            opts.overrides[i].pattern,
            ckpt.path.display()
        )));
    }
    Ok(choices)
}

/// What llama-quantize's mixes read from the hyper-parameters.
fn model_info(ckpt: &Checkpoint) -> ModelInfo {
    let first = |key: &str| -> Option<usize> {
        let key = format!("{}.{key}", ckpt.arch);
        let v = &ckpt.metadata.iter().find(|(k, _)| *k == key)?.1;
        let n: i64 = match v {
            MetaValue::U32(n) => *n as i64,
            MetaValue::I32(n) => *n as i64,
            MetaValue::U64(n) => *n as i64,
            MetaValue::I64(n) => *n,
            MetaValue::Array(MetaArray::U32(a)) => *a.first()? as i64,
            MetaValue::Array(MetaArray::I32(a)) => *a.first()? as i64,
            _ => return None,
        };
        usize::try_from(n).ok()
    };
    let n_head = first("attention.head_count").unwrap_or(0);
    ModelInfo {
        arch: ckpt.arch.clone(),
        n_layers: ckpt.n_layers,
        n_head,
        n_head_kv: first("attention.head_count_kv").unwrap_or(n_head),
    }
}

/// Compresses `ckpt` into `out` and reports what it cost. `progress` is called once per
/// finished tensor (from the writing thread, in file order).
pub fn compress(
    ckpt: &Checkpoint,
    opts: &Options,
    out: &Path,
    progress: &(dyn Fn(&TensorReport) + Sync),
) -> Result<Report, CompressError> {
    compress_then(ckpt, opts, out, progress, &|_| Ok(()))
}

/// [`compress`], calling `before_commit` with the report once the file is complete but
/// before it is renamed into place: if it fails (e.g. writing the report elsewhere),
/// nothing is left at `out` either.
pub fn compress_then(
    ckpt: &Checkpoint,
    opts: &Options,
    out: &Path,
    progress: &(dyn Fn(&TensorReport) + Sync),
    before_commit: &dyn Fn(&Report) -> Result<(), CompressError>,
) -> Result<Report, CompressError> {
    let start = Instant::now();
    let choices = plan(ckpt, opts)?;
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::String(ckpt.arch.clone()));
    for (k, v) in &ckpt.metadata {
        if k != "general.architecture" {
            w.add_metadata(k.clone(), v.clone());
        }
    }
    w.add_metadata("general.file_type", MetaValue::U32(opts.quant.file_type()));
    w.add_metadata(
        "general.quantization_version",
        MetaValue::U32(QUANTIZATION_VERSION),
    );
    for (t, c) in ckpt.tensors.iter().zip(&choices) {
        w.add_tensor_info(t.name.clone(), t.dims.clone(), c.ty)?;
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| CompressError::Recipe(format!("cannot start worker threads: {e}")))?;
    // A window a little wider than the pool keeps every thread busy while the largest
    // tensors (the embedding) bound the memory in flight.
    let window = opts.threads.max(1) + 1;
    let jobs: Vec<(&SourceTensor, Choice)> = ckpt.tensors.iter().zip(choices).collect();
    // Filled while writing, read just before the rename (two closures, one at a time).
    let reports = std::cell::RefCell::new(Vec::with_capacity(jobs.len()));
    let mut merged: HashSet<String> = HashSet::new();
    let report = std::cell::RefCell::new(None);
    w.write_streaming_then(
        out,
        |sink| -> Result<(), CompressError> {
            for chunk in jobs.chunks(window) {
                let done: Vec<Result<(Vec<u8>, TensorReport), CompressError>> =
                    pool.install(|| {
                        chunk
                            .par_iter()
                            .map(|(t, c)| process(ckpt, t, *c, &opts.loras))
                            .collect()
                    });
                for r in done {
                    let (bytes, rep) = r?;
                    sink.write(&rep.name, &bytes)?;
                    if rep.lora.is_some() {
                        merged.insert(rep.hf_name.clone().unwrap_or_default());
                    }
                    progress(&rep);
                    reports.borrow_mut().push(rep);
                }
            }
            // Every target of every adapter must have met its tensor: a target the model
            // doesn't have means the adapter was made for another model.
            for a in &opts.loras {
                a.check_all_used(&merged)
                    .map_err(|e| with_model_modules(e, ckpt))?;
            }
            Ok(())
        },
        |tmp| {
            // Never write what the runtime would refuse to read: its own checks, on the
            // complete file, under the name it is about to get.
            let written = GgufFile::open_as(tmp, out)?;
            check_file(&written).map_err(CompressError::Unloadable)?;
            drop(written);
            let file_bytes = std::fs::metadata(tmp)
                .map_err(|e| CompressError::io(tmp, "cannot stat the written file", e))?
                .len();
            let r = Report::new(
                ckpt,
                out,
                opts,
                reports.take(),
                file_bytes,
                start.elapsed().as_secs_f64(),
            );
            before_commit(&r)?;
            *report.borrow_mut() = Some(r);
            Ok(())
        },
    )?;
    Ok(report.into_inner().expect("set before the rename"))
}

/// One tensor: f32 values (HF row order) -> LoRA merge -> ggml row order -> bytes, with
/// its error measured.
fn process(
    ckpt: &Checkpoint,
    t: &SourceTensor,
    choice: Choice,
    loras: &[LoraAdapter],
) -> Result<(Vec<u8>, TensorReport), CompressError> {
    let ty = choice.ty;
    let cols = t.cols();
    let mut w = ckpt.load(t)?;
    let mut base = None;
    if let Some(hf) = &t.hf_name {
        let targeted: Vec<&LoraAdapter> = loras
            .iter()
            .filter(|a| a.targets().any(|n| n == hf))
            .collect();
        if !targeted.is_empty() {
            base = Some(w.clone());
            for a in targeted {
                let conv1d = t.layout == HfLayout::Transposed;
                a.merge_into_as(hf, t.source_shape(), conv1d, &mut w)?;
            }
        }
    }
    let w = t.to_ggml(w);
    let base = base.map(|b| t.to_ggml(b));
    let (bytes, m) = quantize_measured(ty, &w, base.as_deref(), cols)
        .map_err(|e| CompressError::Recipe(format!("tensor '{}' as {ty}: {e}", t.name)))?;
    // How much of the adapters' change is still in the file: the quantized merged weight
    // minus the quantized base weight, relative to the exact change.
    let lora = base.map(|_| LoraEffect {
        delta_rel: rel(m.delta2, m.norm2),
        survival: rel(m.kept2, m.delta2),
    });
    let rep = TensorReport {
        name: t.name.clone(),
        hf_name: t.hf_name.clone(),
        dims: t.dims.clone(),
        src_type: t.src_type.clone(),
        out_type: ty,
        wanted_type: choice.wanted,
        bytes_before: t.src_bytes,
        bytes_after: bytes.len() as u64,
        err2: m.err2,
        norm2: m.norm2,
        lora,
    };
    Ok((bytes, rep))
}

/// Sums over a tensor, in f64: Σ(deq(Q(W)) − W)², ΣW², and with a LoRA base B:
/// Σ(deq(Q(W)) − deq(Q(B)))² and Σ(W − B)².
#[derive(Default)]
struct Measure {
    err2: f64,
    norm2: f64,
    kept2: f64,
    delta2: f64,
}

impl Measure {
    fn add(self, o: Measure) -> Measure {
        Measure {
            err2: self.err2 + o.err2,
            norm2: self.norm2 + o.norm2,
            kept2: self.kept2 + o.kept2,
            delta2: self.delta2 + o.delta2,
        }
    }
}

/// Quantizes the rows of `w` in parallel and measures the error row by row, so no
/// dequantized copy of the tensor is ever held.
fn quantize_measured(
    ty: GgmlType,
    w: &[f32],
    base: Option<&[f32]>,
    cols: usize,
) -> Result<(Vec<u8>, Measure), QuantError> {
    let row_bytes = ty.row_bytes(cols).ok_or(QuantError::NotBlockMultiple {
        ty,
        n: cols,
        block: ty.block_size(),
    })?;
    let mut out = vec![0u8; row_bytes * (w.len() / cols)];
    let m = out
        .par_chunks_mut(row_bytes)
        .enumerate()
        .map_init(
            || (vec![0f32; cols], vec![0u8; row_bytes], vec![0f32; cols]),
            |(deq, qb, deq_b), (r, dst)| -> Result<Measure, QuantError> {
                let src = &w[r * cols..(r + 1) * cols];
                quantize_row(ty, src, dst)?;
                dequantize_row(ty, dst, deq);
                let mut m = Measure {
                    err2: sq_diff(deq, src),
                    norm2: sq_diff(src, &[]),
                    ..Measure::default()
                };
                if let Some(base) = base {
                    let b = &base[r * cols..(r + 1) * cols];
                    quantize_row(ty, b, qb)?;
                    dequantize_row(ty, qb, deq_b);
                    m.kept2 = sq_diff(deq, deq_b);
                    m.delta2 = sq_diff(src, b);
                }
                Ok(m)
            },
        )
        .try_reduce(Measure::default, |a, b| Ok(a.add(b)))?;
    Ok((out, m))
}

/// Σ(a − b)² in f64; an empty `b` counts as zeros.
fn sq_diff(a: &[f32], b: &[f32]) -> f64 {
    if b.is_empty() {
        return a.iter().map(|&x| (x as f64) * (x as f64)).sum();
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum()
}

/// An adapter error naming a module the model lacks, with the modules it has (layer 0's
/// and the global ones, each once) appended.
fn with_model_modules(e: CompressError, ckpt: &Checkpoint) -> CompressError {
    let mut modules: Vec<String> = Vec::new();
    for t in &ckpt.tensors {
        let Some(hf) = &t.hf_name else { continue };
        let Some(module) = hf.strip_suffix(".weight") else {
            continue;
        };
        let in_later_layer = module
            .split('.')
            .any(|p| p.parse::<u32>().is_ok_and(|l| l > 0));
        if t.dims.len() == 2 && !in_later_layer && !modules.iter().any(|m| m == module) {
            modules.push(module.to_string());
        }
    }
    match e {
        CompressError::Lora { path, msg } => CompressError::Lora {
            path,
            msg: format!("{msg}; the model's modules are {}", modules.join(", ")),
        },
        other => other,
    }
}
