//! `adapter_config.json`: the LoRA hyper-parameters we merge with, and a clear error for every
//! PEFT option whose merge is not plain `W + scale·B·A`.

use std::path::Path;

use fancy_regex::Regex;
use serde_json::{Map, Value};

use crate::error::CompressError;

/// Which module names a PEFT config selects (peft's `check_target_module_exists`).
#[derive(Debug)]
enum ModuleSet {
    /// `null` (peft filled in its per-architecture default) or `"all-linear"`: the tensors
    /// in the file are the only record of what was targeted.
    Any,
    /// A list: a name matches if it equals an entry or ends with `.` + entry.
    Names(Vec<String>),
    /// A string: `re.fullmatch(pattern, name)`.
    Pattern(Regex),
}

impl ModuleSet {
    fn parse(dir: &Path, key: &str, v: &Value) -> Result<ModuleSet, CompressError> {
        match v {
            Value::Null => Ok(ModuleSet::Any),
            Value::String(s) if s == "all-linear" => Ok(ModuleSet::Any),
            Value::String(s) => Ok(ModuleSet::Pattern(full_match_regex(dir, key, s)?)),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| {
                        CompressError::lora(dir, format!("{key}: entry {i} is not a string"))
                    })
                })
                .collect::<Result<_, _>>()
                .map(ModuleSet::Names),
            other => Err(CompressError::lora(
                dir,
                format!("{key}: expected a list of module names or a regex string, got {other}"),
            )),
        }
    }

    fn matches(&self, module: &str) -> bool {
        match self {
            ModuleSet::Any => true,
            ModuleSet::Names(names) => names.iter().any(|n| {
                module == n
                    || (module.len() > n.len()
                        && module.ends_with(n.as_str())
                        && module.as_bytes()[module.len() - n.len() - 1] == b'.')
            }),
            ModuleSet::Pattern(re) => re.is_match(module).unwrap_or(false),
        }
    }
}

/// Python's `re.fullmatch(pattern, s)`. Patterns fancy-regex cannot compile
/// are refused rather than approximated.
fn full_match_regex(dir: &Path, key: &str, pattern: &str) -> Result<Regex, CompressError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        CompressError::lora(
            dir,
            format!("{key}: regex {pattern:?} is not supported (only simple regexes are): {e}"),
        )
    })
}

/// A `rank_pattern` / `alpha_pattern` entry: peft applies it to a module when
/// `re.match(rf"(.*\.)?({key})$", name)`.
#[derive(Debug)]
struct PatternValue {
    key: String,
    re: Regex,
    value: f64,
}

fn parse_patterns(
    dir: &Path,
    field: &str,
    v: Option<&Value>,
) -> Result<Vec<PatternValue>, CompressError> {
    let map = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(CompressError::lora(
                dir,
                format!("{field}: expected an object, got {other}"),
            ))
        }
    };
    map.iter()
        .map(|(key, value)| {
            let value = value.as_f64().ok_or_else(|| {
                CompressError::lora(dir, format!("{field}: value for {key:?} is not a number"))
            })?;
            let re = Regex::new(&format!("^(?:.*\\.)?(?:{key})$")).map_err(|e| {
                CompressError::lora(
                    dir,
                    format!("{field}: key {key:?} is not a supported regex: {e}"),
                )
            })?;
            Ok(PatternValue {
                key: key.clone(),
                re,
                value,
            })
        })
        .collect()
}

/// The value a pattern table gives a module, if any. peft takes the first matching key in
/// the JSON's order; serde_json's map may reorder keys, so two matching keys with different
/// values are refused instead of guessed.
fn pattern_value(
    dir: &Path,
    field: &str,
    patterns: &[PatternValue],
    module: &str,
) -> Result<Option<f64>, CompressError> {
    let mut found: Option<&PatternValue> = None;
    for p in patterns
        .iter()
        .filter(|p| p.re.is_match(module).unwrap_or(false))
    {
        match found {
            Some(f) if f.value != p.value => {
                return Err(CompressError::lora(
                    dir,
                    format!(
                        "{field}: keys {:?} and {:?} both match {module} with different values",
                        f.key, p.key
                    ),
                ))
            }
            Some(_) => {}
            None => found = Some(p),
        }
    }
    Ok(found.map(|p| p.value))
}

/// The parts of `adapter_config.json` that decide the merge.
#[derive(Debug)]
pub(crate) struct AdapterConfig {
    pub r: usize,
    pub alpha: f64,
    pub use_rslora: bool,
    /// The base weight is stored transposed, `[in, out]` (GPT-2's `Conv1D`).
    pub fan_in_fan_out: bool,
    targets: ModuleSet,
    exclude: Option<ModuleSet>,
    rank_pattern: Vec<PatternValue>,
    alpha_pattern: Vec<PatternValue>,
}

/// A JSON value that turns an option on: anything but null, false, 0, "" or an empty list/map.
fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Bool(true)) => true,
    }
}

/// Options that change what a merge means (or add weights a merge cannot express).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("use_dora", "DoRA (weight-decomposed LoRA) is not supported"),
    (
        "modules_to_save",
        "modules_to_save (fully trained extra modules) is not supported",
    ),
    (
        "lora_bias",
        "lora_bias (a trained bias on lora_B) is not supported",
    ),
    (
        "layers_to_transform",
        "layers_to_transform is not supported",
    ),
    (
        "layer_replication",
        "layer_replication changes the model's layers and is not supported",
    ),
    (
        "target_parameters",
        "target_parameters (LoRA on raw parameters) is not supported",
    ),
    (
        "trainable_token_indices",
        "trainable_token_indices (trained embedding rows) is not supported",
    ),
    (
        "alora_invocation_tokens",
        "activated LoRA (alora_invocation_tokens) cannot be merged",
    ),
    ("use_qalora", "QA-LoRA is not supported"),
    (
        "use_bdlora",
        "block-diagonal LoRA (use_bdlora) is not supported",
    ),
    (
        "megatron_config",
        "Megatron parallel LoRA layers are not supported",
    ),
    ("velora_config", "the VeLoRA variant is not supported"),
    (
        "monteclora_config",
        "the MonteCLoRA variant is not supported",
    ),
    (
        "arrow_config",
        "Arrow routing between LoRA experts cannot be merged",
    ),
    ("kasa_config", "the KaSA variant is not supported"),
];

/// `init_lora_weights` values after which peft trained against a modified base weight
/// (`W - scale·B0·A0`): such an adapter is only correct for that residual model.
const BASE_CHANGING_INITS: &[&str] = &["pissa", "corda", "olora", "loftq", "lora_ga"];

impl AdapterConfig {
    /// Parses the text of `<dir>/adapter_config.json`; errors name `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<AdapterConfig, CompressError> {
        let json: Value = serde_json::from_str(text).map_err(|e| {
            CompressError::lora(dir, format!("adapter_config.json is not valid JSON: {e}"))
        })?;
        let obj = json
            .as_object()
            .ok_or_else(|| CompressError::lora(dir, "adapter_config.json is not a JSON object"))?;
        Self::from_object(dir, obj)
    }

    fn from_object(dir: &Path, obj: &Map<String, Value>) -> Result<AdapterConfig, CompressError> {
        let err = |msg: String| CompressError::lora(dir, msg);
        match obj.get("peft_type").and_then(Value::as_str) {
            Some("LORA") | None => {}
            Some(other) => return Err(err(format!("peft_type {other} is not LORA"))),
        }
        for (key, msg) in UNSUPPORTED {
            if is_set(obj.get(*key)) {
                return Err(err(format!("{msg} ({key} = {})", obj[*key])));
            }
        }
        match obj.get("bias") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "none" => {}
            Some(other) => {
                return Err(err(format!(
                    "bias = {other}: trained biases are not supported (only \"none\")"
                )))
            }
        }
        if let Some(Value::String(init)) = obj.get("init_lora_weights") {
            let lower = init.to_ascii_lowercase();
            if BASE_CHANGING_INITS.iter().any(|p| lower.starts_with(p)) {
                return Err(err(format!(
                    "init_lora_weights = {init:?} trains against a modified base weight; convert the \
                     adapter to plain LoRA first (peft save_pretrained with \
                     path_initial_model_for_weight_conversion)"
                )));
            }
        }

        let r = match obj.get("r").and_then(Value::as_u64) {
            Some(r) if r > 0 => r as usize,
            _ => {
                return Err(err(format!(
                    "r = {:?}: expected a positive integer",
                    obj.get("r")
                )))
            }
        };
        let alpha = obj
            .get("lora_alpha")
            .and_then(Value::as_f64)
            .filter(|a| a.is_finite())
            .ok_or_else(|| {
                err(format!(
                    "lora_alpha = {:?}: expected a number",
                    obj.get("lora_alpha")
                ))
            })?;
        let flag = |key: &str| -> Result<bool, CompressError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(err(format!("{key} = {other}: expected true or false"))),
            }
        };
        let exclude = match obj.get("exclude_modules") {
            None | Some(Value::Null) => None,
            Some(v) => Some(ModuleSet::parse(dir, "exclude_modules", v)?),
        };
        Ok(AdapterConfig {
            r,
            alpha,
            use_rslora: flag("use_rslora")?,
            fan_in_fan_out: flag("fan_in_fan_out")?,
            targets: ModuleSet::parse(
                dir,
                "target_modules",
                obj.get("target_modules").unwrap_or(&Value::Null),
            )?,
            exclude,
            rank_pattern: parse_patterns(dir, "rank_pattern", obj.get("rank_pattern"))?,
            alpha_pattern: parse_patterns(dir, "alpha_pattern", obj.get("alpha_pattern"))?,
        })
    }

    /// Whether peft would have put a LoRA on `module` (a name like `model.layers.0.self_attn.q_proj`).
    pub fn selects(&self, module: &str) -> bool {
        self.targets.matches(module) && !self.exclude.as_ref().is_some_and(|e| e.matches(module))
    }

    /// The rank peft gave `module`: `rank_pattern` if a key matches, else `r`.
    pub fn rank_of(&self, dir: &Path, module: &str) -> Result<usize, CompressError> {
        Ok(
            match pattern_value(dir, "rank_pattern", &self.rank_pattern, module)? {
                Some(v) if v >= 1.0 && v.fract() == 0.0 => v as usize,
                Some(v) => {
                    return Err(CompressError::lora(
                        dir,
                        format!(
                            "rank_pattern gives {module} rank {v}: expected a positive integer"
                        ),
                    ))
                }
                None => self.r,
            },
        )
    }

    /// `lora_alpha`, or the `alpha_pattern` value for `module`.
    pub fn alpha_of(&self, dir: &Path, module: &str) -> Result<f64, CompressError> {
        Ok(pattern_value(dir, "alpha_pattern", &self.alpha_pattern, module)?.unwrap_or(self.alpha))
    }

    /// peft's `scaling`: alpha/r, or alpha/√r with rsLoRA (r and alpha per module).
    pub fn scaling(&self, dir: &Path, module: &str) -> Result<f64, CompressError> {
        let r = self.rank_of(dir, module)? as f64;
        let alpha = self.alpha_of(dir, module)?;
        Ok(if self.use_rslora {
            alpha / r.sqrt()
        } else {
            alpha / r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AdapterConfig, CompressError> {
        AdapterConfig::parse(Path::new("adapters/x"), json)
    }

    #[test]
    fn list_targets_match_whole_name_components() {
        let c = parse(r#"{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "mlp.up_proj"]}"#)
            .unwrap();
        assert!(c.selects("model.layers.0.self_attn.q_proj"));
        assert!(c.selects("q_proj"));
        assert!(c.selects("model.layers.3.mlp.up_proj"));
        assert!(!c.selects("model.layers.0.self_attn.xq_proj"));
        assert!(!c.selects("model.layers.0.self_attn.k_proj"));
        assert_eq!(c.scaling(Path::new("x"), "q_proj").unwrap(), 2.0);
    }

    #[test]
    fn regex_targets_are_full_matches() {
        let c = parse(r#"{"r": 4, "lora_alpha": 8, "target_modules": ".*\\.(q|v)_proj"}"#).unwrap();
        assert!(c.selects("model.layers.0.self_attn.q_proj"));
        assert!(!c.selects("model.layers.0.self_attn.q_proj.extra"));
        assert!(!c.selects("model.layers.0.self_attn.k_proj"));
        let e = parse(r#"{"r": 4, "lora_alpha": 8, "target_modules": "(q_proj"}"#).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
    }

    #[test]
    fn exclude_modules_wins_over_targets() {
        let c = parse(
            r#"{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "exclude_modules": ["layers.1.self_attn.q_proj"]}"#,
        )
        .unwrap();
        assert!(c.selects("model.layers.0.self_attn.q_proj"));
        assert!(!c.selects("model.layers.1.self_attn.q_proj"));
    }

    #[test]
    fn rank_and_alpha_patterns_and_rslora() {
        let c = parse(
            r#"{"r": 4, "lora_alpha": 8, "use_rslora": true, "target_modules": ["q_proj", "o_proj"],
                "rank_pattern": {"o_proj": 16}, "alpha_pattern": {"layers.1.self_attn.q_proj": 3}}"#,
        )
        .unwrap();
        let d = Path::new("x");
        assert_eq!(c.rank_of(d, "model.layers.0.self_attn.o_proj").unwrap(), 16);
        assert_eq!(c.rank_of(d, "model.layers.0.self_attn.q_proj").unwrap(), 4);
        assert_eq!(
            c.scaling(d, "model.layers.0.self_attn.o_proj").unwrap(),
            2.0
        );
        assert_eq!(
            c.scaling(d, "model.layers.1.self_attn.q_proj").unwrap(),
            1.5
        );
        // "layers.1.self_attn.q_proj" must not match layer 11's.
        assert_eq!(
            c.scaling(d, "model.layers.11.self_attn.q_proj").unwrap(),
            4.0
        );
    }

    #[test]
    fn defaults_are_harmless() {
        // What peft writes for a plain adapter: every variant field present but off.
        let c = parse(
            r#"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "bias": "none", "use_dora": false,
                "modules_to_save": null, "lora_bias": false, "layer_replication": null,
                "loftq_config": {}, "init_lora_weights": true, "megatron_config": null,
                "target_modules": ["q_proj"], "rank_pattern": {}, "alpha_pattern": {}}"#,
        )
        .unwrap();
        assert!(!c.use_rslora && !c.fan_in_fan_out);
    }

    #[test]
    fn unsupported_options_are_errors_naming_the_adapter() {
        for extra in [
            r#""use_dora": true"#,
            r#""modules_to_save": ["lm_head"]"#,
            r#""bias": "all""#,
            r#""lora_bias": true"#,
            r#""layers_to_transform": [0]"#,
            r#""init_lora_weights": "pissa_niter_4""#,
            r#""peft_type": "ADALORA""#,
            r#""arrow_config": {"top_k": 2}"#,
        ] {
            let json =
                format!(r#"{{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"], {extra}}}"#);
            let e = parse(&json).unwrap_err().to_string();
            assert!(e.contains("adapters/x"), "{extra}: {e}");
        }
        assert!(parse(r#"{"r": 0, "lora_alpha": 16}"#).is_err());
        assert!(parse(r#"{"r": 8}"#).is_err());
        assert!(parse("[1]").is_err());
    }
}
