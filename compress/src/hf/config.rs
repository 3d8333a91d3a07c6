//! `config.json` (and `generation_config.json`) of a Hugging Face causal LM, and the
//! `general.*` / `<arch>.*` GGUF metadata llama.cpp's convert_hf_to_gguf.py writes for it.
//!
//! The converter reads the config through transformers' config classes (4.x, as its
//! requirements pin), so absent fields take those classes' defaults; the same defaults
//! are applied here where they change what is written.

use std::path::{Path, PathBuf};

use edgelm_runtime::gguf::MetaValue;
use serde_json::{Map, Value};

use super::json::{read_json, Obj};
use crate::CompressError;

/// ggml's quantization version, written as `general.quantization_version`.
pub const GGML_QUANT_VERSION: u32 = 2;

/// GGUF architectures the compressor writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma2,
    Gemma3,
    Phi3,
    Gpt2,
}

impl Arch {
    /// The `general.architecture` value and key prefix.
    pub fn gguf_name(self) -> &'static str {
        self.spec().name
    }

    /// The runtime's description of the architecture: its HF classes and tensor names.
    pub fn spec(self) -> &'static edgelm_runtime::model::Arch {
        let name = match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
            Arch::Gpt2 => "gpt2",
        };
        edgelm_runtime::model::arch::find(name).expect("every compressor arch has a spec")
    }

    const ALL: [Arch; 7] = [
        Arch::Llama,
        Arch::Qwen2,
        Arch::Qwen3,
        Arch::Gemma2,
        Arch::Gemma3,
        Arch::Phi3,
        Arch::Gpt2,
    ];

    /// The architecture whose spec lists Hugging Face class `class`.
    pub fn from_hf_class(class: &str) -> Option<Arch> {
        Arch::ALL
            .into_iter()
            .find(|a| a.spec().hf_classes.contains(&class))
    }
}

/// The Hugging Face classes (`architectures[0]`) understood, from the architecture specs.
pub fn supported_architectures() -> Vec<&'static str> {
    Arch::ALL
        .iter()
        .flat_map(|a| a.spec().hf_classes.iter().copied())
        .collect()
}

/// RoPE scaling as llama.cpp represents it.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    Linear {
        factor: f32,
    },
    Yarn {
        factor: f32,
        original_context_length: u32,
        ext_factor: Option<f32>,
        attn_factor: Option<f32>,
        beta_fast: Option<f32>,
        beta_slow: Option<f32>,
    },
    /// Llama 3.1 frequency scaling: no metadata, a `rope_freqs.weight` tensor instead
    /// (see [`HfConfig::rope_freqs`]).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_context_length: u32,
    },
}

/// What the compressor needs from `config.json`.
#[derive(Clone, Debug)]
pub struct HfConfig {
    /// The `config.json` read.
    pub path: PathBuf,
    /// `architectures[0]`, e.g. `LlamaForCausalLM`.
    pub hf_architecture: String,
    pub arch: Arch,
    pub hidden_size: u32,
    pub num_hidden_layers: u32,
    pub num_attention_heads: u32,
    pub num_key_value_heads: u32,
    /// `head_dim`, or `hidden_size / num_attention_heads` when absent.
    pub head_dim: u32,
    pub intermediate_size: u32,
    pub vocab_size: u32,
    pub rms_norm_eps: f32,
    /// A plain LayerNorm epsilon, written only when the config has one.
    pub layer_norm_eps: Option<f32>,
    pub rope_theta: f32,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: u32,
    pub tie_word_embeddings: bool,
    /// q/k/v projections with biases (Llama's `attention_bias`); Qwen2 always has them.
    pub attention_bias: bool,
    /// `torch_dtype` (transformers 4) or `dtype` (transformers 5), e.g. `bfloat16`.
    pub dtype: Option<String>,
    /// Whether the converter writes `attention.key_length`/`value_length`: transformers'
    /// LlamaConfig always carries `head_dim`, Mistral's and Qwen2's only when given.
    pub(crate) head_dim_written: bool,
    /// `general.sampling.*` keys from `generation_config.json`, in the converter's order.
    sampling: Vec<(String, MetaValue)>,
    /// `_name_or_path`: the Hugging Face model id the checkpoint was saved from, if any.
    pub name_or_path: Option<String>,
    /// The RoPE base of sliding-window layers, where the config gives one (Gemma 3).
    pub rope_local_theta: Option<f32>,
    /// `sliding_window` (Gemma, Phi-3), when set.
    pub sliding_window: Option<u32>,
    /// Whether `sliding_window_pattern` is 1 (no local layers; Gemma 3 then writes no window).
    pub sliding_window_pattern_one: bool,
    pub attn_logit_softcapping: Option<f32>,
    pub final_logit_softcapping: Option<f32>,
    /// Phi-3's `original_max_position_embeddings`.
    pub original_max_position_embeddings: Option<u32>,
    /// Phi-3's `partial_rotary_factor` (1 when absent).
    pub partial_rotary_factor: f64,
}

impl HfConfig {
    /// Reads `dir/config.json` (and `dir/generation_config.json` when present).
    pub fn load(dir: &Path) -> Result<HfConfig, CompressError> {
        let path = dir.join("config.json");
        let root = read_json(&path)?;
        let mut cfg = HfConfig::from_json(&path, &root)?;
        cfg.sampling = sampling_metadata(&dir.join("generation_config.json"));
        Ok(cfg)
    }

    /// Parses a `config.json` already read; `path` is named in errors.
    pub fn from_json(path: &Path, root: &Value) -> Result<HfConfig, CompressError> {
        let o = Obj::new(path, root, "config.json")?;
        let hf_architecture = match o.get("architectures") {
            Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
        .ok_or_else(|| {
            CompressError::input(path, "no `architectures` list naming the model class")
        })?;
        let arch = Arch::from_hf_class(&hf_architecture).ok_or_else(|| {
            let names = supported_architectures();
            CompressError::input(
                path,
                format!(
                    "unsupported architecture '{hf_architecture}' (supported: {})",
                    names.join(", ")
                ),
            )
        })?;
        // transformers picks the config class by model_type; it decides the defaults.
        let model_type = o.str("model_type")?.unwrap_or(match arch {
            Arch::Llama if hf_architecture.starts_with("Mistral") => "mistral",
            Arch::Gemma3 => "gemma3_text",
            a => a.gguf_name(),
        });
        let gpt2 = arch == Arch::Gpt2;
        // GPT-2's own names for the sizes (its config class maps the common ones to them).
        let key =
            |common: &'static str, gpt2_key: &'static str| if gpt2 { gpt2_key } else { common };

        let hidden_size = o.req_u32(key("hidden_size", "n_embd"))?;
        let num_hidden_layers = o.req_u32(key("num_hidden_layers", "n_layer"))?;
        let num_attention_heads = o.req_u32(key("num_attention_heads", "n_head"))?;
        if num_attention_heads == 0 || hidden_size % num_attention_heads != 0 {
            return Err(CompressError::input(
                path,
                format!("hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"),
            ));
        }
        // GPT-2 has neither: every head is a key/value head of hidden / heads.
        let num_key_value_heads = match gpt2 {
            true => num_attention_heads,
            false => o.u32("num_key_value_heads")?.unwrap_or(num_attention_heads),
        };
        let explicit_head_dim = if gpt2 { None } else { o.u32("head_dim")? };
        // The config classes' defaults where the file has none.
        let class_head_dim = match arch {
            Arch::Qwen3 => Some(128),
            Arch::Gemma2 | Arch::Gemma3 => Some(256),
            _ => None,
        };
        let head_dim = explicit_head_dim
            .or(class_head_dim)
            .unwrap_or(hidden_size / num_attention_heads);
        let head_dim_written =
            model_type == "llama" || explicit_head_dim.is_some() || class_head_dim.is_some();

        let mut rope_params = match o.get("rope_parameters").or_else(|| o.get("rope_scaling")) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        // Gemma 3 (transformers 5): per layer type; the global layers' are the model's.
        let local_params = rope_params.get("sliding_attention").cloned();
        if let Some(Value::Object(full)) = rope_params.get("full_attention").cloned() {
            rope_params = full;
        }
        let rope_local_theta = match &local_params {
            Some(Value::Object(m)) => Obj::from_map(path, m).f64("rope_theta")?,
            _ => o.f64("rope_local_base_freq")?,
        }
        .map(|v| v as f32);
        let rp = Obj::from_map(path, &rope_params);
        let rope_theta = match rp.f64("rope_theta")? {
            Some(t) => t,
            None => o.f64("rope_theta")?.unwrap_or(match arch {
                Arch::Gemma3 => 1_000_000.0,
                _ => 10000.0,
            }),
        } as f32;
        let original_ctx = match rp.u32("original_max_position_embeddings")? {
            Some(v) => Some(v),
            None => o.u32("original_max_position_embeddings")?,
        };
        let rope_scaling = rope_scaling(path, &rp, original_ctx)?;

        let default_ctx = match model_type {
            "mistral" => 4096 * 32,
            "qwen2" | "qwen3" => 32768,
            "gemma3_text" => 131072,
            "gemma2" => 8192,
            "phi3" => 4096,
            _ => 2048,
        };
        // GPT-2's converter writes n_ctx (n_positions in transformers 5 configs).
        let context = match gpt2 {
            true => match o.u32("n_ctx")? {
                Some(v) => Some(v),
                None => o.u32("n_positions")?,
            },
            false => o.u32("max_position_embeddings")?,
        };
        let intermediate_size = match gpt2 {
            // The converter writes 4 × n_embd whatever n_inner says.
            true => match o.u32("n_inner")? {
                Some(v) if v != 4 * hidden_size => {
                    return Err(CompressError::input(
                        path,
                        format!(
                            "GPT-2 n_inner {v} is not 4 × n_embd; llama.cpp's gpt2 assumes it is"
                        ),
                    ))
                }
                _ => 4 * hidden_size,
            },
            false => o.req_u32("intermediate_size")?,
        };
        let partial_rotary_factor = match rp.f64("partial_rotary_factor")? {
            Some(v) => v,
            None => o.f64("partial_rotary_factor")?.unwrap_or(1.0),
        };
        let softcap = |k: &str| o.f64(k).map(|v| v.map(|v| v as f32));
        let dtype = match o.str("torch_dtype")? {
            Some(d) => Some(d.to_string()),
            None => o.str("dtype")?.map(str::to_string),
        };
        let layer_norm_eps = ["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"]
            .iter()
            .find_map(|k| o.f64(k).transpose())
            .transpose()?
            .map(|v| v as f32);
        let cfg = HfConfig {
            path: path.to_path_buf(),
            hf_architecture,
            arch,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            intermediate_size,
            vocab_size: o.req_u32("vocab_size")?,
            rms_norm_eps: o.f64("rms_norm_eps")?.unwrap_or(1e-6) as f32,
            layer_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: context.unwrap_or(default_ctx),
            tie_word_embeddings: o.bool("tie_word_embeddings")?.unwrap_or(false),
            attention_bias: o.bool("attention_bias")?.unwrap_or(false),
            dtype,
            head_dim_written,
            sampling: Vec::new(),
            name_or_path: root
                .get("_name_or_path")
                .and_then(Value::as_str)
                .map(str::to_string),
            rope_local_theta,
            sliding_window: o.u32("sliding_window")?,
            sliding_window_pattern_one: o.u32("sliding_window_pattern")? == Some(1),
            attn_logit_softcapping: softcap("attn_logit_softcapping")?,
            final_logit_softcapping: softcap("final_logit_softcapping")?,
            original_max_position_embeddings: original_ctx,
            partial_rotary_factor,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Every value in range before anything is sized from it or written: what the
    /// runtime would refuse to load is refused here, naming the field.
    fn check(&self) -> Result<(), CompressError> {
        let bad = |msg: String| Err(CompressError::input(&self.path, msg));
        for (key, v) in [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return bad(format!("`{key}` is 0"));
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad(format!(
                "num_attention_heads {} cannot be grouped over num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.arch == Arch::Phi3 && self.original_max_position_embeddings.is_none() {
            return bad("Phi-3 needs `original_max_position_embeddings` (llama.cpp's converter writes it as rope.scaling.original_context_length)".into());
        }
        // RoPE rotates pairs of dimensions.
        if !self.head_dim.is_multiple_of(2) {
            return bad(format!(
                "head_dim {} is odd; RoPE needs pairs of dimensions",
                self.head_dim
            ));
        }
        let positive = |key: &str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                bad(format!("`{key}` is {v} (as f32), not a positive number"))
            }
        };
        positive("rms_norm_eps", self.rms_norm_eps)?;
        if let Some(eps) = self.layer_norm_eps {
            positive("layer_norm_eps", eps)?;
        }
        positive("rope_theta", self.rope_theta)?;
        match &self.rope_scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => positive("rope factor", *factor)?,
            RopeScaling::Yarn {
                factor,
                original_context_length,
                ext_factor,
                attn_factor,
                beta_fast,
                beta_slow,
            } => {
                positive("rope factor", *factor)?;
                if *original_context_length == 0 {
                    return bad("`original_max_position_embeddings` is 0".into());
                }
                for (k, v) in [
                    ("extrapolation_factor", ext_factor),
                    ("attention_factor", attn_factor),
                    ("beta_fast", beta_fast),
                    ("beta_slow", beta_slow),
                ] {
                    if v.is_some_and(|v| !v.is_finite()) {
                        return bad(format!("rope `{k}` is not a finite number"));
                    }
                }
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context_length,
            } => {
                positive("rope factor", *factor)?;
                positive("low_freq_factor", *low_freq_factor)?;
                positive("high_freq_factor", *high_freq_factor)?;
                // The ramp between the two divides by their difference.
                if high_freq_factor <= low_freq_factor {
                    return bad(format!(
                        "rope high_freq_factor {high_freq_factor} is not above low_freq_factor {low_freq_factor}"
                    ));
                }
                if *original_context_length == 0 {
                    return bad("`original_max_position_embeddings` is 0".into());
                }
            }
        }
        Ok(())
    }

    /// The `general.*` and `<arch>.*` keys convert_hf_to_gguf.py writes, in its order,
    /// with `name` as `general.name` and `file_type` (a `LLAMA_FTYPE_*` value, e.g. 1 for
    /// mostly F16, 3 for mostly Q4_1) as `general.file_type`. Tokenizer keys come from
    /// [`super::tokenizer_metadata`].
    pub fn metadata(&self, name: &str, file_type: u32) -> Vec<(String, MetaValue)> {
        let a = self.arch.gguf_name();
        let mut out: Vec<(String, MetaValue)> = Vec::new();
        let mut put = |k: String, v: MetaValue| out.push((k, v));
        put("general.architecture".into(), MetaValue::String(a.into()));
        put("general.type".into(), MetaValue::String("model".into()));
        for (k, v) in &self.sampling {
            put(k.clone(), v.clone());
        }
        put("general.name".into(), MetaValue::String(name.into()));

        out.extend(super::arch_metadata::hparams(self, file_type));
        out.push((
            "general.quantization_version".into(),
            MetaValue::U32(GGML_QUANT_VERSION),
        ));
        out
    }

    /// The `rope_freqs.weight` tensor (one factor per rotated pair, `head_dim / 2` values)
    /// for Llama 3 RoPE scaling, computed as the converter does in f32; `None` otherwise.
    pub fn rope_freqs(&self) -> Option<Vec<f32>> {
        let RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context_length,
        } = self.rope_scaling
        else {
            return None;
        };
        let dim = self.head_dim;
        let old_ctx = original_context_length as f32;
        let low_wavelen = old_ctx / low_freq_factor;
        let high_wavelen = old_ctx / high_freq_factor;
        let factors = (0..dim)
            .step_by(2)
            .map(|i| {
                let freq = 1.0 / self.rope_theta.powf(i as f32 / dim as f32);
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth = (old_ctx / wavelen - low_freq_factor)
                        / (high_freq_factor - low_freq_factor);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                }
            })
            .collect();
        Some(factors)
    }
}

/// `general.name` for a model directory: the model's own name, as the converter finds it
/// (config.json's `_name_or_path` when it is a Hugging Face id, "HuggingFaceTB/SmolLM2-
/// 135M-Instruct" -> "SmolLM2 135M Instruct"), else the directory's name, in title form
/// either way. Unlike the converter, a trailing dtype or quantization part (`-f32`,
/// `-bf16`, `-fp16`, `-q4_k_m` ...) is dropped: it names the copy, not the model, and
/// the file written is of another type anyway.
pub fn model_name(dir: &Path, name_or_path: Option<&str>) -> String {
    // A model id has at most one '/'; a saved-from local path is not a name.
    let id = name_or_path
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.matches('/').count() <= 1 && !n.starts_with(['.', '/']))
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
        .filter(|n| !n.is_empty());
    let id = id.unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".to_string())
    });
    // A human sentence is a name as it stands (as the converter keeps it).
    if id.contains(' ') {
        return id.trim().to_string();
    }
    let mut parts: Vec<&str> = id.split('-').filter(|p| !p.is_empty()).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| is_type_part(p)) {
        parts.pop();
    }
    parts
        .join(" ")
        .split_whitespace()
        .map(|w| {
            let lower = w.chars().any(char::is_lowercase) && !w.chars().any(char::is_uppercase);
            if lower && !looks_like_version(w) {
                title_case(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name part that is a tensor type, as gguf-py's `get_model_id_components` tells them
/// (`f32`, `bf16`, `fp16`, `q4_k_m`, `iq2_xs`), or a dtype as transformers spells it
/// (`float32`, `bfloat16`, `half`).
fn is_type_part(p: &str) -> bool {
    let p = p.to_ascii_lowercase();
    if matches!(
        p.as_str(),
        "float32" | "float16" | "bfloat16" | "half" | "full"
    ) {
        return true;
    }
    let float = {
        let r = p.strip_prefix('b').unwrap_or(&p);
        let r = r.strip_prefix('f').unwrap_or(r);
        let r = r.strip_prefix('p').unwrap_or(r);
        r.len() < p.len() && (r == "16" || r == "32")
    };
    let quant = {
        let r = p.strip_prefix('i').unwrap_or(&p);
        r.strip_prefix('q').is_some_and(|r| {
            let mut c = r.chars();
            c.next().is_some_and(|d| d.is_ascii_digit())
                && c.as_str().split('_').enumerate().all(|(i, s)| {
                    (i == 0 && s.is_empty())
                        || (i > 0 && !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
                })
        })
    };
    float || quant
}

/// `v1`, `v1.2`, or anything starting with a digit.
fn looks_like_version(w: &str) -> bool {
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    let Some(rest) = w.strip_prefix('v') else {
        return false;
    };
    !rest.is_empty()
        && rest
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Python's `str.title()`: a letter after a non-letter is upper case, others lower.
fn title_case(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut prev_letter = false;
    for c in w.chars() {
        if c.is_alphabetic() {
            if prev_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_letter = true;
        } else {
            out.push(c);
            prev_letter = false;
        }
    }
    out
}

/// RoPE scaling from the `rope_parameters` / `rope_scaling` object. Types llama.cpp's
/// converter ignores for these architectures ("default", "dynamic") give `None`.
fn rope_scaling(
    path: &Path,
    rp: &Obj,
    original_ctx: Option<u32>,
) -> Result<RopeScaling, CompressError> {
    let ty = match rp.str("rope_type")? {
        Some(t) => Some(t),
        None => rp.str("type")?,
    };
    let Some(ty) = ty else {
        return Ok(RopeScaling::None);
    };
    let factor = rp.f64("factor")?.map(|f| f as f32);
    let f32_of = |k: &str| rp.f64(k).map(|v| v.map(|v| v as f32));
    Ok(match (ty.to_ascii_lowercase().as_str(), factor) {
        ("default" | "dynamic", _) => RopeScaling::None,
        ("linear", Some(factor)) => RopeScaling::Linear { factor },
        ("yarn", Some(factor)) => RopeScaling::Yarn {
            factor,
            original_context_length: original_ctx.ok_or_else(|| {
                CompressError::input(
                    path,
                    "yarn RoPE scaling needs original_max_position_embeddings",
                )
            })?,
            ext_factor: f32_of("extrapolation_factor")?,
            attn_factor: match f32_of("attention_factor")? {
                Some(v) => Some(v),
                None => f32_of("attn_factor")?,
            },
            beta_fast: f32_of("beta_fast")?,
            beta_slow: f32_of("beta_slow")?,
        },
        // transformers' rope validation requires the factor for both.
        ("linear" | "yarn", None) => {
            return Err(CompressError::input(
                path,
                format!("{ty} RoPE scaling without a `factor`"),
            ))
        }
        ("llama3", _) => RopeScaling::Llama3 {
            factor: factor.unwrap_or(8.0),
            low_freq_factor: f32_of("low_freq_factor")?.unwrap_or(1.0),
            high_freq_factor: f32_of("high_freq_factor")?.unwrap_or(4.0),
            original_context_length: original_ctx.unwrap_or(8192),
        },
        (other, _) => {
            return Err(CompressError::input(
                path,
                format!(
                    "unsupported RoPE scaling type '{other}' (supported: linear, yarn, llama3)"
                ),
            ))
        }
    })
}

/// `general.sampling.*` from `generation_config.json`, as gguf-py's `Metadata.load` reads
/// it; a missing or unreadable file gives none (the converter ignores it likewise).
fn sampling_metadata(path: &Path) -> Vec<(String, MetaValue)> {
    let Ok(text) = crate::input_file::read_text(path, crate::input_file::JSON_LIMIT) else {
        return Vec::new();
    };
    let Ok(Value::Object(g)) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    #[derive(Clone, Copy)]
    enum Ty {
        Str,
        I32,
        F32,
    }
    // (GGUF key suffix, generation_config keys in priority order, type)
    const KEYS: &[(&str, &[&str], Ty)] = &[
        ("sequence", &["sequence"], Ty::Str),
        ("top_k", &["top_k"], Ty::I32),
        ("top_p", &["top_p"], Ty::F32),
        ("min_p", &["min_p"], Ty::F32),
        ("xtc_probability", &["xtc_probability"], Ty::F32),
        ("xtc_threshold", &["xtc_threshold"], Ty::F32),
        ("temp", &["temperature"], Ty::F32),
        ("penalty_last_n", &["penalty_last_n"], Ty::I32),
        (
            "penalty_repeat",
            &["penalty_repeat", "repetition_penalty"],
            Ty::F32,
        ),
        ("mirostat", &["mirostat"], Ty::I32),
        ("mirostat_tau", &["mirostat_tau"], Ty::F32),
        ("mirostat_eta", &["mirostat_eta"], Ty::F32),
    ];
    let mut out = Vec::new();
    for &(suffix, keys, ty) in KEYS {
        // Python's dict.get chain: the first key present decides, even when it is null.
        let Some(v) = keys.iter().find_map(|k| g.get(*k)) else {
            continue;
        };
        let value = match (ty, v) {
            (Ty::Str, Value::String(s)) => MetaValue::String(s.clone()),
            (Ty::I32, Value::Number(n)) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Some(i) => MetaValue::I32(i),
                None => continue,
            },
            (Ty::F32, Value::Number(n)) => match n.as_f64() {
                Some(f) => MetaValue::F32(f as f32),
                None => continue,
            },
            _ => continue,
        };
        out.push((format!("general.sampling.{suffix}"), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: Value) -> Result<HfConfig, CompressError> {
        let mut v = json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 1000,
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        HfConfig::from_json(Path::new("config.json"), &v)
    }

    fn get<'a>(m: &'a [(String, MetaValue)], k: &str) -> Option<&'a MetaValue> {
        m.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }

    #[test]
    fn rope_theta_both_forms_and_defaults() {
        let a = cfg(json!({"rope_theta": 5e5})).unwrap();
        let b =
            cfg(json!({"rope_parameters": {"rope_theta": 5e5, "rope_type": "default"}})).unwrap();
        assert_eq!((a.rope_theta, b.rope_theta), (5e5, 5e5));
        assert_eq!(a.num_key_value_heads, 4);
        assert_eq!(a.head_dim, 64);
        assert_eq!(a.max_position_embeddings, 2048);
        assert_eq!(cfg(json!({})).unwrap().rope_theta, 10000.0);
    }

    #[test]
    fn head_dim_keys_follow_the_config_class() {
        let llama = cfg(json!({})).unwrap().metadata("m", 1);
        assert_eq!(
            get(&llama, "llama.attention.key_length"),
            Some(&MetaValue::U32(64))
        );
        let mistral =
            cfg(json!({"architectures": ["MistralForCausalLM"], "model_type": "mistral"}))
                .unwrap()
                .metadata("m", 1);
        assert_eq!(get(&mistral, "llama.attention.key_length"), None);
        assert_eq!(
            get(&mistral, "llama.rope.dimension_count"),
            Some(&MetaValue::U32(64))
        );
        let qwen = cfg(json!({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}))
            .unwrap()
            .metadata("m", 1);
        assert_eq!(get(&qwen, "qwen2.attention.key_length"), None);
        assert_eq!(get(&qwen, "qwen2.vocab_size"), None);
        assert_eq!(
            get(&qwen, "general.architecture"),
            Some(&MetaValue::String("qwen2".into()))
        );
    }

    #[test]
    fn rope_scaling_keys() {
        let lin = cfg(json!({"rope_scaling": {"type": "linear", "factor": 2.0}})).unwrap();
        let m = lin.metadata("m", 1);
        assert_eq!(
            get(&m, "llama.rope.scaling.type"),
            Some(&MetaValue::String("linear".into()))
        );
        assert_eq!(
            get(&m, "llama.rope.scaling.factor"),
            Some(&MetaValue::F32(2.0))
        );
        let yarn = cfg(json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
            "original_max_position_embeddings": 4096, "beta_fast": 32.0}}))
        .unwrap()
        .metadata("m", 1);
        assert_eq!(
            get(&yarn, "llama.rope.scaling.original_context_length"),
            Some(&MetaValue::U32(4096))
        );
        assert_eq!(
            get(&yarn, "llama.rope.scaling.yarn_beta_fast"),
            Some(&MetaValue::F32(32.0))
        );
        assert_eq!(get(&yarn, "llama.rope.scaling.yarn_beta_slow"), None);
        let e = cfg(json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}})).unwrap_err();
        assert!(
            e.to_string().contains("original_max_position_embeddings"),
            "{e}"
        );
        let e = cfg(json!({"rope_scaling": {"rope_type": "longrope"}})).unwrap_err();
        assert!(e.to_string().contains("'longrope'"), "{e}");
    }

    /// Llama 3.1's scaling: high frequencies kept, low ones divided by the factor, a
    /// smooth ramp between (wavelengths between 8192/4 and 8192).
    #[test]
    fn llama3_rope_freqs() {
        let c = cfg(
            json!({"hidden_size": 512, "rope_parameters": {"rope_theta": 500000.0,
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}),
        )
        .unwrap();
        assert_eq!(c.head_dim, 128);
        let f = c.rope_freqs().unwrap();
        assert_eq!(f.len(), 64);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[63], 8.0);
        let ramp: Vec<f32> = f.iter().copied().filter(|&x| x > 1.0 && x < 8.0).collect();
        assert!(
            !ramp.is_empty() && ramp.windows(2).all(|w| w[0] < w[1]),
            "{f:?}"
        );
        // No metadata for llama3 scaling: the tensor carries it.
        assert!(get(&c.metadata("m", 1), "llama.rope.scaling.type").is_none());
        assert!(cfg(json!({})).unwrap().rope_freqs().is_none());
    }

    #[test]
    fn bad_fields_name_the_file() {
        let e = cfg(json!({"hidden_size": "big"})).unwrap_err().to_string();
        assert!(e.starts_with("config.json: `hidden_size`"), "{e}");
        let e = cfg(json!({"architectures": []})).unwrap_err().to_string();
        assert!(e.starts_with("config.json: no `architectures`"), "{e}");
    }

    #[test]
    fn names_from_directories() {
        let name = |dir: &str| model_name(Path::new(dir), None);
        // The folder's dtype suffix names the copy, not the model.
        assert_eq!(
            name("/x/SmolLM2-135M-Instruct-f32"),
            "SmolLM2 135M Instruct"
        );
        for suffix in [
            "f16", "BF16", "fp32", "float16", "bfloat16", "q4_k_m", "Q8_0", "iq2_xs",
        ] {
            assert_eq!(
                name(&format!("/x/Qwen2.5-0.5B-{suffix}")),
                "Qwen2.5 0.5B",
                "{suffix}"
            );
        }
        assert_eq!(name("/x/my-model-v1.2"), "My Model v1.2");
        // Parts that only look alike stay.
        assert_eq!(name("/x/f32"), "F32");
        assert_eq!(name("/x/model-q-fast"), "Model Q Fast");
        assert_eq!(name("/x/phi-3-mini"), "Phi 3 Mini");
    }

    #[test]
    fn names_from_the_config() {
        let dir = Path::new("/x/SmolLM2-135M-Instruct-f32");
        let name = |id: &str| model_name(dir, Some(id));
        assert_eq!(
            name("HuggingFaceTB/SmolLM2-360M-Instruct"),
            "SmolLM2 360M Instruct"
        );
        assert_eq!(name("gpt2"), "Gpt2");
        assert_eq!(name("My Model"), "My Model");
        // Paths are not names: the folder's name is used.
        for path in ["/home/me/ckpt/run-7", "./out", "a/b/c", ""] {
            assert_eq!(name(path), "SmolLM2 135M Instruct", "{path:?}");
        }
    }
}
