//! The memory plan: what running a model will take, from the GGUF header alone, before
//! any weight is touched, and what this device can give.
//!
//! Peak resident memory is the process itself, the parsed header (read from the map
//! and copied into the heap), the tokenizer, every weight (mapped and prefaulted, or
//! copied into an interleaved layout: either way resident once), the KV cache at its
//! full context, and the forward pass's buffers. Each term is computed from the
//! file's hyper-parameters; the constants were measured on SmolLM2 and Gemma 3 files.

use std::path::Path;

use crate::error::Result;
use crate::gguf::GgufFile;
use crate::model::ModelConfig;

const MIB: f64 = 1024.0 * 1024.0;

/// Resident memory of the program with no model: code, std, thread stacks, allocator.
const PROCESS_BASE: u64 = 6 << 20;
/// Heap per vocabulary entry and per merge rule, beyond their text (measured).
const PER_TOKEN: u64 = 16;
const PER_MERGE: u64 = 48;

/// What the plan is for.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// Context positions of one sequence.
    pub n_ctx: usize,
    /// Sequences with their own cache (`serve --parallel`; 1 otherwise).
    pub parallel: usize,
    /// Bytes of the KV cache per cached element (2 for f16, 34/32 for q8_0, …).
    pub kv_bytes_per_value: f64,
    /// Tokens per forward pass (prefill batch; the step of all sequences when serving).
    pub n_batch: usize,
    /// Rows of logits each pass keeps (1 per sequence when generating).
    pub logits_rows: usize,
    pub threads: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// Tensor data: every weight, resident once loaded.
    pub weights: u64,
    pub kv_cache: u64,
    /// Activations, logits and attention buffers of one forward pass.
    pub scratch: u64,
    /// The parsed header and the tokenizer built from it.
    pub tokenizer: u64,
    /// The program itself.
    pub process: u64,
    pub peak_rss: u64,
    /// What this device can give now ([`available_memory`]); `None` if unknown.
    pub available: Option<u64>,
}

impl MemoryPlan {
    /// Whether the peak fits what is available (true when that is unknown).
    pub fn fits(&self) -> bool {
        self.available.is_none_or(|a| self.peak_rss <= a)
    }

    /// The plan as one JSON object (MiB), as `edgelm plan --json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let mib = |b: u64| (b as f64 / MIB * 10.0).round() / 10.0;
        serde_json::json!({
            "weights_mib": mib(self.weights),
            "kv_cache_mib": mib(self.kv_cache),
            "scratch_mib": mib(self.scratch),
            "tokenizer_mib": mib(self.tokenizer),
            "process_mib": mib(self.process),
            "peak_rss_mib": mib(self.peak_rss),
            "available_mib": self.available.map(mib),
            "fits": self.fits(),
        })
    }
}

/// What a model file needs, read once from its header; [`Footprint::plan`] then
/// evaluates it for any request without reading the file again.
#[derive(Clone, Debug)]
pub struct Footprint {
    config: ModelConfig,
    weights: u64,
    tokenizer: u64,
    vocab: u64,
}

impl Footprint {
    pub fn read(file: &GgufFile) -> Result<Footprint> {
        let config = ModelConfig::from_gguf(file)?;
        let header = file.data_offset();
        let count = |key: &str| {
            file.get_str_array(key)
                .ok()
                .flatten()
                .map_or(0, |a| a.len() as u64)
        };
        let tokens = count("tokenizer.ggml.tokens");
        let merges = count("tokenizer.ggml.merges");
        let vocab = file
            .tensor("token_embd.weight")
            .and_then(|t| t.dims.get(1).copied())
            .unwrap_or(tokens);
        Ok(Footprint {
            config,
            weights: file.file_size().saturating_sub(header),
            // The header's pages are read once from the map and its values live in
            // the heap.
            tokenizer: 2 * header + PER_TOKEN * tokens + PER_MERGE * merges,
            vocab,
        })
    }

    /// The context length the model was trained for.
    pub fn n_ctx_train(&self) -> usize {
        self.config.n_ctx_train
    }

    /// The plan under `req`, `available` left unknown (the caller knows its budget).
    pub fn plan(&self, req: &PlanRequest) -> MemoryPlan {
        let c = &self.config;
        let values = 2.0 * c.n_layer as f64 * req.n_ctx as f64 * c.kv_dim() as f64;
        let kv_cache = (values * req.kv_bytes_per_value * req.parallel.max(1) as f64) as u64;
        let rows = req.n_batch.max(1) as u64;
        let (d, qd, kvd, ff) = (
            c.n_embd as u64,
            c.q_dim() as u64,
            c.kv_dim() as u64,
            c.n_ff as u64,
        );
        // f32 activations: x, xn, delta (d); q, attn (q_dim); k, v (kv_dim); gate, up (ff).
        let activations = 4 * rows * (3 * d + 2 * qd + 2 * kvd + 2 * ff);
        let logits = 4 * req.logits_rows.max(1) as u64 * self.vocab;
        // Per thread: scores of a block of 16 queries of a head group over the context.
        let group = (c.n_head / c.n_head_kv.max(1)) as u64;
        let attention = 4 * req.threads.max(1) as u64 * 16 * group * (req.n_ctx as u64 + 32);
        let scratch = activations + logits + attention;
        MemoryPlan {
            weights: self.weights,
            kv_cache,
            scratch,
            tokenizer: self.tokenizer,
            process: PROCESS_BASE,
            peak_rss: PROCESS_BASE + self.tokenizer + self.weights + kv_cache + scratch,
            available: None,
        }
    }

    /// The largest context (≤ `max`, a multiple of 256 when above 256) whose plan fits
    /// `budget` bytes, if any does.
    pub fn largest_fitting_ctx(&self, req: &PlanRequest, budget: u64, max: usize) -> Option<usize> {
        let fits = |n: usize| {
            self.plan(&PlanRequest {
                n_ctx: n,
                ..req.clone()
            })
            .peak_rss
                <= budget
        };
        let mut lo = 16.min(max);
        if !fits(lo) {
            return None;
        }
        let mut hi = max;
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(if lo > 256 { lo / 256 * 256 } else { lo })
    }
}

/// The plan for `file` (its header only is read) under `req`, against what this
/// device can give now.
pub fn plan(file: &GgufFile, req: &PlanRequest) -> Result<MemoryPlan> {
    let mut p = Footprint::read(file)?.plan(req);
    p.available = available_memory();
    Ok(p)
}

/// Memory this process can still get: the smaller of `MemAvailable` and what the
/// cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`) leaves. The environment
/// variable `EDGELM_MEM_AVAILABLE` (bytes, or with a K/M/G suffix) overrides it, to
/// plan for another device or to test.
pub fn available_memory() -> Option<u64> {
    if let Ok(v) = std::env::var("EDGELM_MEM_AVAILABLE") {
        return parse_size(&v);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line["MemAvailable:".len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    });
    let cgroup = cgroup_room(Path::new("/sys/fs/cgroup"));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a cgroup limit leaves (limit − usage), v2 then v1; `None` without a limit.
pub(crate) fn cgroup_room(root: &Path) -> Option<u64> {
    let num = |p: &Path| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let v2 = num(&root.join("memory.max")).map(|max| (max, num(&root.join("memory.current"))));
    let v1 = || {
        let d = root.join("memory");
        let max = num(&d.join("memory.limit_in_bytes"))?;
        // v1 reports "no limit" as a huge number.
        (max < 1 << 60).then(|| (max, num(&d.join("memory.usage_in_bytes"))))
    };
    let (max, used) = v2.or_else(v1)?;
    Some(max.saturating_sub(used.unwrap_or(0)))
}

/// `4096`, `512M`, `1.5G`, `64k` (powers of 1024) → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 't' | 'T') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult as f64) as u64)
}

/// `1.9 GiB`, `850 MiB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.0} MiB", b / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("300MB"), Some(300 << 20));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1G"), None);
    }

    #[test]
    fn cgroup_limits_are_read_v2_then_v1() {
        let root = std::env::temp_dir().join(format!("edgelm-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("memory")).unwrap();
        assert_eq!(cgroup_room(&root), None);
        std::fs::write(
            root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(cgroup_room(&root), None, "v1's 'unlimited'");
        std::fs::write(root.join("memory/memory.limit_in_bytes"), "1073741824\n").unwrap();
        std::fs::write(root.join("memory/memory.usage_in_bytes"), "73741824\n").unwrap();
        assert_eq!(cgroup_room(&root), Some(1_000_000_000));
        std::fs::write(root.join("memory.max"), "max\n").unwrap();
        assert_eq!(
            cgroup_room(&root),
            Some(1_000_000_000),
            "v2 'max' is no limit"
        );
        std::fs::write(root.join("memory.max"), "536870912\n").unwrap();
        std::fs::write(root.join("memory.current"), "36870912\n").unwrap();
        assert_eq!(cgroup_room(&root), Some(500_000_000));
        std::fs::remove_dir_all(root).unwrap();
    }
}
