//! A PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`),
//! memory-mapped, its A/B pairs indexed by the Hugging Face weight they modify.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use super::config::AdapterConfig;
use super::merge::{add_scaled_product, transpose, NonFinite};
use crate::error::CompressError;

/// One tensor of the adapter file: where its bytes lie in the mapping.
#[derive(Debug)]
struct TensorRef {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Byte range in the whole file.
    start: usize,
    end: usize,
}

/// One LoRA'd module: `ΔW = scale · B · A`, A `[r, in]`, B `[out, r]`.
#[derive(Debug)]
struct Target {
    a: TensorRef,
    b: TensorRef,
    r: usize,
    in_features: usize,
    out_features: usize,
    /// User scale × alpha/r (alpha/√r for rsLoRA), per module.
    scale: f64,
}

/// A PEFT LoRA adapter ready to merge into f32 weights.
///
/// The tensors in `adapter_model.safetensors` say which modules carry a LoRA; the config
/// supplies rank, alpha and layout, and every tensor must be one peft would load (a module
/// its `target_modules` selects, with the rank it assigns), so nothing is merged that peft
/// would have ignored.
#[derive(Debug)]
pub struct LoraAdapter {
    dir: PathBuf,
    mmap: Mmap,
    user_scale: f32,
    fan_in_fan_out: bool,
    /// Keyed by the HF weight name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    targets: BTreeMap<String, Target>,
}

const CONFIG_FILE: &str = "adapter_config.json";
const WEIGHTS_FILE: &str = "adapter_model.safetensors";

impl LoraAdapter {
    /// Opens the adapter in `dir`. `scale` multiplies peft's own scaling (1.0 = peft's merge).
    pub fn open(dir: &Path, scale: f32) -> Result<LoraAdapter, CompressError> {
        if !scale.is_finite() {
            return Err(CompressError::lora(
                dir,
                format!("scale {scale} is not finite"),
            ));
        }
        let config_path = dir.join(CONFIG_FILE);
        let text = crate::input_file::read_text(&config_path, crate::input_file::JSON_LIMIT)?;
        let config = AdapterConfig::parse(dir, &text)?;

        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.exists() && dir.join("adapter_model.bin").exists() {
            return Err(CompressError::lora(
                dir,
                "only adapter_model.safetensors is supported, found adapter_model.bin (a pickle)",
            ));
        }
        let file = crate::input_file::open_regular(&weights_path)?;
        // SAFETY: the file is opened read-only and only read through this mapping; like every
        // mmap reader we rely on nobody truncating or rewriting it while the adapter is open.
        let mmap = unsafe { Mmap::map(&file) }
            .map_err(|e| CompressError::io(&weights_path, "mapping the LoRA adapter weights", e))?;
        let targets = index_tensors(dir, &mmap, &config, f64::from(scale))?;
        Ok(LoraAdapter {
            dir: dir.to_path_buf(),
            mmap,
            user_scale: scale,
            fan_in_fan_out: config.fan_in_fan_out,
            targets,
        })
    }

    /// The adapter directory, as given to [`LoraAdapter::open`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The scale given to [`LoraAdapter::open`].
    pub fn user_scale(&self) -> f32 {
        self.user_scale
    }

    /// The HF weight names this adapter modifies, sorted.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// The effective scale of the delta added to `hf_name`, if it is a target.
    pub fn scale_of(&self, hf_name: &str) -> Option<f64> {
        self.targets.get(hf_name).map(|t| t.scale)
    }

    /// Whether the config says the base weights are stored `[in, out]` (GPT-2's `Conv1D`).
    pub fn fan_in_fan_out(&self) -> bool {
        self.fan_in_fan_out
    }

    /// For models whose projections are `nn.Linear` (llama, mistral, qwen2, ...): peft clears
    /// `fan_in_fan_out` on such modules (with a warning), so the delta is not transposed.
    pub fn for_linear_layers(mut self) -> LoraAdapter {
        self.fan_in_fan_out = false;
        self
    }

    /// Adds this adapter's `scale · B · A` to `weight` (HF layout, `shape` = `[out, in]`, or
    /// `[in, out]` with fan_in_fan_out) if `hf_name` is one of its targets; returns whether it did.
    /// On error `weight` may be partly updated.
    pub fn merge_into(
        &self,
        hf_name: &str,
        shape: [usize; 2],
        weight: &mut [f32],
    ) -> Result<bool, CompressError> {
        self.merge_into_as(hf_name, shape, self.fan_in_fan_out, weight)
    }

    /// [`LoraAdapter::merge_into`] with the module's own layout: peft uses
    /// `fan_in_fan_out` = true for a `Conv1D` (GPT-2) and false for an `nn.Linear`,
    /// whatever the adapter's config says.
    pub fn merge_into_as(
        &self,
        hf_name: &str,
        shape: [usize; 2],
        fan_in_fan_out: bool,
        weight: &mut [f32],
    ) -> Result<bool, CompressError> {
        let Some(t) = self.targets.get(hf_name) else {
            return Ok(false);
        };
        if shape[0].checked_mul(shape[1]) != Some(weight.len()) {
            return Err(CompressError::lora(
                &self.dir,
                format!(
                    "{hf_name}: {} values given for shape {shape:?}",
                    weight.len()
                ),
            ));
        }
        let want = if fan_in_fan_out {
            [t.in_features, t.out_features]
        } else {
            [t.out_features, t.in_features]
        };
        if shape != want {
            return Err(CompressError::lora(
                &self.dir,
                format!(
                    "{hf_name}: base weight has shape {shape:?} but {} {:?} and {} {:?} need {want:?}{}",
                    t.a.name,
                    t.a.shape,
                    t.b.name,
                    t.b.shape,
                    if fan_in_fan_out { " (fan_in_fan_out: [in, out])" } else { " ([out, in])" }
                ),
            ));
        }
        let a = self.read_f32(&t.a)?;
        let b = self.read_f32(&t.b)?;
        let result = if fan_in_fan_out {
            // Stored W is [in, out]: W += (B·A)ᵀ = Aᵀ·Bᵀ.
            let at = transpose(&a, t.r, t.in_features);
            let bt = transpose(&b, t.out_features, t.r);
            add_scaled_product(weight, t.out_features, &at, &bt, t.r, t.scale)
        } else {
            add_scaled_product(weight, t.in_features, &b, &a, t.r, t.scale)
        };
        result.map_err(|NonFinite { row, col }| {
            CompressError::lora(
                &self.dir,
                format!("{hf_name}: the LoRA delta at [{row}, {col}] is not finite"),
            )
        })?;
        Ok(true)
    }

    /// ΔW for `hf_name` in the same layout as [`LoraAdapter::merge_into`] would add it, or
    /// `None` if this adapter does not modify it.
    pub fn delta(
        &self,
        hf_name: &str,
        shape: [usize; 2],
    ) -> Result<Option<Vec<f32>>, CompressError> {
        if !self.targets.contains_key(hf_name) {
            return Ok(None);
        }
        let mut d = vec![0f32; shape[0].saturating_mul(shape[1])];
        self.merge_into(hf_name, shape, &mut d)?;
        Ok(Some(d))
    }

    /// Errors naming the first target missing from `used` (the HF names of the model's
    /// tensors): a LoRA for a tensor the model lacks must never be skipped silently.
    pub fn check_all_used(&self, used: &HashSet<String>) -> Result<(), CompressError> {
        match self.targets.keys().find(|name| !used.contains(*name)) {
            None => Ok(()),
            Some(name) => Err(CompressError::lora(
                &self.dir,
                format!(
                    "its LoRA for {name} ({}) matches no tensor of the model (lm_head with tied \
                     embeddings, or a module this model lacks?)",
                    self.targets[name].a.name
                ),
            )),
        }
    }

    fn read_f32(&self, t: &TensorRef) -> Result<Vec<f32>, CompressError> {
        let bytes = self.mmap.get(t.start..t.end).ok_or_else(|| {
            CompressError::lora(&self.dir, format!("{}: data lies outside the file", t.name))
        })?;
        Ok(match t.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            // index_tensors admits only the four float types above.
            other => {
                return Err(CompressError::lora(
                    &self.dir,
                    format!("{}: dtype {other:?} is not a float type", t.name),
                ))
            }
        })
    }
}

/// Which half of a LoRA pair a tensor name is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Half {
    A,
    B,
}

/// Splits `[base_model.model.]<module>.lora_{A,B}[.<adapter name>].weight` into
/// (module, half); other tensor kinds are errors saying what they are.
fn parse_name(dir: &Path, name: &str) -> Result<(String, Half), CompressError> {
    let err = |msg: &str| CompressError::lora(dir, format!("tensor {name}: {msg}"));
    if name.contains("lora_embedding_A") || name.contains("lora_embedding_B") {
        return Err(err("LoRA on an embedding is not supported"));
    }
    if name.contains("lora_magnitude_vector") {
        return Err(err("DoRA magnitude vectors are not supported"));
    }
    let stripped = name.strip_prefix("base_model.model.").unwrap_or(name);
    let (module, half, rest) = if let Some((m, rest)) = stripped.split_once(".lora_A.") {
        (m, Half::A, rest)
    } else if let Some((m, rest)) = stripped.split_once(".lora_B.") {
        (m, Half::B, rest)
    } else if stripped.contains("modules_to_save") {
        return Err(err("modules_to_save weights are not supported"));
    } else {
        return Err(err("not a LoRA A/B weight (unsupported adapter content)"));
    };
    let kind = rest.rsplit('.').next().unwrap_or(rest);
    let adapter_names = rest.split('.').count();
    match (kind, adapter_names) {
        ("weight", 1 | 2) => Ok((module.to_owned(), half)),
        ("bias", _) => Err(err("LoRA biases (lora_bias) are not supported")),
        _ => Err(err("not a LoRA A/B weight (unsupported adapter content)")),
    }
}

fn index_tensors(
    dir: &Path,
    file: &[u8],
    config: &AdapterConfig,
    user_scale: f64,
) -> Result<BTreeMap<String, Target>, CompressError> {
    let (header_len, metadata) = SafeTensors::read_metadata(file).map_err(|e| {
        CompressError::lora(
            dir,
            format!("{WEIGHTS_FILE} is not a valid safetensors file: {e}"),
        )
    })?;
    let data_start = 8 + header_len;
    let mut halves: BTreeMap<String, [Option<TensorRef>; 2]> = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let (module, half) = parse_name(dir, &name)?;
        if !matches!(
            info.dtype,
            Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64
        ) {
            return Err(CompressError::lora(
                dir,
                format!(
                    "tensor {name}: dtype {:?} is not supported (F32, F16, BF16, F64)",
                    info.dtype
                ),
            ));
        }
        if info.shape.len() != 2 {
            return Err(CompressError::lora(
                dir,
                format!("tensor {name}: shape {:?} is not 2-D", info.shape),
            ));
        }
        let slot = &mut halves.entry(module.clone()).or_default()[half as usize];
        if let Some(prev) = slot {
            return Err(CompressError::lora(
                dir,
                format!(
                    "tensors {} and {name} are both lora_{half:?} of {module}",
                    prev.name
                ),
            ));
        }
        *slot = Some(TensorRef {
            name: name.clone(),
            dtype: info.dtype,
            shape: info.shape.clone(),
            start: data_start + info.data_offsets.0,
            end: data_start + info.data_offsets.1,
        });
    }
    if halves.is_empty() {
        return Err(CompressError::lora(
            dir,
            format!("{WEIGHTS_FILE} holds no LoRA weights"),
        ));
    }

    let mut targets = BTreeMap::new();
    for (module, [a, b]) in halves {
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (Some(t), None) | (None, Some(t)) => {
                return Err(CompressError::lora(
                    dir,
                    format!(
                        "{} has no matching lora_{} tensor",
                        t.name,
                        if t.name.contains(".lora_A.") {
                            "B"
                        } else {
                            "A"
                        }
                    ),
                ))
            }
            (None, None) => continue,
        };
        let (r, in_features, out_features) = (a.shape[0], a.shape[1], b.shape[0]);
        if b.shape[1] != r {
            return Err(CompressError::lora(
                dir,
                format!(
                    "{} {:?} and {} {:?} disagree on the rank",
                    a.name, a.shape, b.name, b.shape
                ),
            ));
        }
        if !config.selects(&module) {
            return Err(CompressError::lora(
                dir,
                format!(
                    "{} is for {module}, which target_modules does not select (peft would ignore it)",
                    a.name
                ),
            ));
        }
        let want_r = config.rank_of(dir, &module)?;
        if r != want_r {
            return Err(CompressError::lora(
                dir,
                format!(
                    "{} has rank {r} but the config gives {module} rank {want_r}",
                    a.name
                ),
            ));
        }
        let scale = user_scale * config.scaling(dir, &module)?;
        targets.insert(
            format!("{module}.weight"),
            Target {
                a,
                b,
                r,
                in_features,
                out_features,
                scale,
            },
        );
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_name_forms() {
        let d = Path::new("ad");
        let q = "model.layers.0.self_attn.q_proj";
        for (name, half) in [
            (
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                Half::A,
            ),
            (
                "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight",
                Half::B,
            ),
            ("model.layers.0.self_attn.q_proj.lora_A.weight", Half::A),
            (
                "model.layers.0.self_attn.q_proj.lora_B.my_adapter.weight",
                Half::B,
            ),
        ] {
            assert_eq!(parse_name(d, name).unwrap(), (q.to_owned(), half), "{name}");
        }
        for (name, why) in [
            (
                "base_model.model.model.embed_tokens.lora_embedding_A",
                "embedding",
            ),
            (
                "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                "DoRA",
            ),
            (
                "base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias",
                "bias",
            ),
            (
                "base_model.model.lm_head.modules_to_save.default.weight",
                "modules_to_save",
            ),
            ("base_model.model.model.norm.weight", "not a LoRA"),
            (
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.x.y.weight",
                "not a LoRA",
            ),
        ] {
            let e = parse_name(d, name).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("ad"), "{name}: {e}");
        }
    }
}
