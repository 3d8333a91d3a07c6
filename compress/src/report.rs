//! What the compression cost: bytes and relative error per tensor and in total, how
//! much of each LoRA delta survived quantization, time and memory. Printed as a table
//! and written as JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use edgelm_kernels::quant::GgmlType;
use serde_json::{json, Value};

use crate::pipeline::Options;
use crate::source::Checkpoint;

/// How a merged LoRA delta fared. `delta_rel` = ‖ΔW‖ / ‖W‖ (the adapter's size next to
/// the weight); `survival` = ‖deq(Q(W+ΔW)) − deq(Q(W))‖ / ‖ΔW‖: 1 means the file changed
/// by as much as the adapter asked, values far below 1 mean quantization rounded the
/// fine-tune away (values above 1 mean rounding noise larger than the delta).
#[derive(Clone, Debug)]
pub struct LoraEffect {
    pub delta_rel: f64,
    pub survival: f64,
}

#[derive(Clone, Debug)]
pub struct TensorReport {
    pub name: String,
    pub hf_name: Option<String>,
    pub dims: Vec<u64>,
    pub src_type: String,
    pub out_type: GgmlType,
    /// What the recipe asked for; differs from `out_type` where the rows fit no block of
    /// it and it fell back (llama-quantize's fallback).
    pub wanted_type: GgmlType,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Σ (deq(Q(W)) − W)² and Σ W², in f64: relative RMSE = √(err2 / norm2).
    pub err2: f64,
    pub norm2: f64,
    pub lora: Option<LoraEffect>,
}

impl TensorReport {
    pub fn rel_rmse(&self) -> f64 {
        rel(self.err2, self.norm2)
    }
    pub fn ratio(&self) -> f64 {
        self.bytes_before as f64 / self.bytes_after.max(1) as f64
    }
}

/// √(err2 / norm2), 0 for an all-zero reference.
pub(crate) fn rel(err2: f64, norm2: f64) -> f64 {
    if norm2 > 0.0 {
        (err2 / norm2).sqrt()
    } else {
        0.0
    }
}

pub struct Report {
    pub input: PathBuf,
    pub output: PathBuf,
    pub quant: String,
    pub loras: Vec<(PathBuf, f32)>,
    pub tensors: Vec<TensorReport>,
    /// Bytes of tensor data in the source, and the size of the written file.
    pub bytes_before: u64,
    pub file_bytes: u64,
    pub wall_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub warnings: Vec<String>,
}

impl Report {
    pub(crate) fn new(
        ckpt: &Checkpoint,
        out: &Path,
        opts: &Options,
        tensors: Vec<TensorReport>,
        file_bytes: u64,
        wall_s: f64,
    ) -> Report {
        Report {
            input: ckpt.path.clone(),
            output: out.to_path_buf(),
            quant: opts.quant.name(),
            loras: opts
                .loras
                .iter()
                .map(|a| (a.dir().to_path_buf(), a.user_scale()))
                .collect(),
            bytes_before: tensors.iter().map(|t| t.bytes_before).sum(),
            tensors,
            file_bytes,
            wall_s,
            peak_rss_mib: edgelm_runtime::metrics::peak_rss_mib(),
            warnings: ckpt.warnings.clone(),
        }
    }

    pub fn tensor_bytes_after(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes_after).sum()
    }

    /// Relative RMSE over all quantized weights together.
    pub fn rel_rmse(&self) -> f64 {
        let (e, n) = self
            .tensors
            .iter()
            .fold((0.0, 0.0), |(e, n), t| (e + t.err2, n + t.norm2));
        rel(e, n)
    }

    /// Input MiB (of tensor data) per second.
    pub fn mib_per_s(&self) -> f64 {
        mib(self.bytes_before) / self.wall_s.max(1e-9)
    }

    /// How many tensors fell back to another type, per (wanted, used) pair.
    pub fn fallbacks(&self) -> Vec<(GgmlType, GgmlType, usize)> {
        crate::recipe::fallback_counts(self.tensors.iter().map(|t| (t.wanted_type, t.out_type)))
    }

    /// The per-tensor table and the totals, as printed on stdout.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<28} {:>14} {:>5} -> {:<5} {:>11} {:>11} {:>6} {:>9}  lora kept",
            "tensor", "shape", "from", "to", "bytes in", "bytes out", "ratio", "rel RMSE"
        );
        for t in &self.tensors {
            let shape = t
                .dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x");
            let lora = t
                .lora
                .as_ref()
                .map(|l| format!("  {:.3} (|dW|/|W| {:.2e})", l.survival, l.delta_rel))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{:<28} {:>14} {:>5} -> {:<5} {:>11} {:>11} {:>6.2} {:>9.2e}{lora}",
                t.name,
                shape,
                t.src_type,
                t.out_type.name(),
                t.bytes_before,
                t.bytes_after,
                t.ratio(),
                t.rel_rmse()
            );
        }
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for t in &self.tensors {
            match counts.iter_mut().find(|(n, _)| *n == t.out_type.name()) {
                Some((_, c)) => *c += 1,
                None => counts.push((t.out_type.name(), 1)),
            }
        }
        let counts = counts
            .iter()
            .map(|(n, c)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s);
        let _ = writeln!(s, "input      {}", self.input.display());
        for (p, scale) in &self.loras {
            let _ = writeln!(s, "lora       {} (scale {scale})", p.display());
        }
        let _ = writeln!(s, "output     {}", self.output.display());
        let _ = writeln!(
            s,
            "quant      {} ({} tensors: {counts})",
            self.quant,
            self.tensors.len()
        );
        if let Some(line) = fallback_line(&self.fallbacks()) {
            let _ = writeln!(s, "fallback   {line}");
        }
        let after = self.tensor_bytes_after();
        let _ = writeln!(
            s,
            "size       {:.1} MiB of tensors -> {:.1} MiB ({}, {:.3} bits/weight); file {:.1} MiB",
            mib(self.bytes_before),
            mib(after),
            size_change(self.bytes_before, after),
            self.bits_per_weight(),
            mib(self.file_bytes),
        );
        let _ = writeln!(s, "rel RMSE   {:.3e} (all weights)", self.rel_rmse());
        if let Some(kept) = self.lora_survival() {
            let _ = writeln!(s, "lora kept  {kept:.3} of the merged deltas (1 = all)");
        }
        let rss = self
            .peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
        let _ = writeln!(
            s,
            "time       {:.2} s ({:.0} MiB/s), peak RSS {rss}",
            self.wall_s,
            self.mib_per_s()
        );
        s
    }

    fn bits_per_weight(&self) -> f64 {
        let n: u64 = self
            .tensors
            .iter()
            .map(|t| t.dims.iter().product::<u64>())
            .sum();
        self.tensor_bytes_after() as f64 * 8.0 / n.max(1) as f64
    }

    /// ‖kept‖ / ‖ΔW‖ over all merged tensors together.
    pub fn lora_survival(&self) -> Option<f64> {
        let mut any = false;
        let (mut kept2, mut delta2) = (0.0, 0.0);
        for t in &self.tensors {
            if let Some(l) = &t.lora {
                any = true;
                let d2 = l.delta_rel * l.delta_rel * t.norm2;
                delta2 += d2;
                kept2 += l.survival * l.survival * d2;
            }
        }
        any.then(|| rel(kept2, delta2))
    }

    pub fn to_json(&self) -> Value {
        let tensors: Vec<Value> = self
            .tensors
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "hf_name": t.hf_name,
                    "dims": t.dims,
                    "type_before": t.src_type,
                    "type_after": t.out_type.name(),
                    "type_wanted": t.wanted_type.name(),
                    "bytes_before": t.bytes_before,
                    "bytes_after": t.bytes_after,
                    "ratio": t.ratio(),
                    "rel_rmse": t.rel_rmse(),
                    "lora": t.lora.as_ref().map(|l| json!({
                        "delta_rel": l.delta_rel,
                        "survival": l.survival,
                    })),
                })
            })
            .collect();
        json!({
            "input": self.input,
            "output": self.output,
            "quant": self.quant,
            "loras": self.loras.iter().map(|(p, s)| json!({"path": p, "scale": s})).collect::<Vec<_>>(),
            "tensors": tensors,
            "total": {
                "bytes_before": self.bytes_before,
                "tensor_bytes_after": self.tensor_bytes_after(),
                "file_bytes": self.file_bytes,
                "ratio": self.bytes_before as f64 / self.tensor_bytes_after().max(1) as f64,
                "bits_per_weight": self.bits_per_weight(),
                "rel_rmse": self.rel_rmse(),
                "lora_survival": self.lora_survival(),
            },
            "wall_s": self.wall_s,
            "fallbacks": self.fallbacks().iter().map(|(w, u, n)| json!({
                "wanted": w.name(), "used": u.name(), "tensors": n,
            })).collect::<Vec<_>>(),
            "mib_per_s": self.mib_per_s(),
            "peak_rss_mib": self.peak_rss_mib,
            "warnings": self.warnings,
        })
    }
}

/// Bytes in MiB (2^20), the one unit the compressor prints.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// `2.50x smaller`, `1.48x larger` or `the same size`: from `before` to `after` bytes.
pub fn size_change(before: u64, after: u64) -> String {
    if after == before {
        "the same size".to_string()
    } else if after < before {
        format!("{:.2}x smaller", before as f64 / after.max(1) as f64)
    } else {
        format!("{:.2}x larger", after as f64 / before.max(1) as f64)
    }
}

/// `181 tensors Q6_K -> Q8_0 (rows fit no Q6_K block of 256); ...`, or `None`.
pub fn fallback_line(counts: &[(GgmlType, GgmlType, usize)]) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(w, u, n)| {
            let t = if *n == 1 { "tensor" } else { "tensors" };
            format!(
                "{n} {t} {w} -> {u} (rows not a multiple of {w}'s {}-value blocks)",
                w.block_size()
            )
        })
        .collect();
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_say_which_way_they_went() {
        assert_eq!(size_change(1000, 400), "2.50x smaller");
        assert_eq!(size_change(1000, 1480), "1.48x larger");
        assert_eq!(size_change(7, 7), "the same size");
        assert_eq!(mib(3 << 20), 3.0);
    }

    #[test]
    fn fallbacks_are_counted_per_pair() {
        assert_eq!(fallback_line(&[]), None);
        let l = fallback_line(&[
            (GgmlType::Q6_K, GgmlType::Q8_0, 181),
            (GgmlType::Q4_0, GgmlType::F16, 1),
        ])
        .unwrap();
        assert_eq!(
            l,
            "181 tensors Q6_K -> Q8_0 (rows not a multiple of Q6_K's 256-value blocks); \
             1 tensor Q4_0 -> F16 (rows not a multiple of Q4_0's 32-value blocks)"
        );
    }
}
