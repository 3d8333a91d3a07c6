//! Which ggml type each tensor gets: a plain type for every weight, or one of
//! llama-quantize's mixes, which give the tensors that hurt most when squeezed
//! (attn_v, ffn_down, the output/embedding matrix) more bits. `--tensor-type`
//! overrides win over both.

use edgelm_kernels::quant::GgmlType;
use fancy_regex::Regex;

use crate::source::names::layer_of;
use crate::CompressError;

/// llama-quantize's mixes that are more than one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Recipe {
    Q3_K_M,
    Q4_K_S,
    Q4_K_M,
    Q5_K_M,
    Q6_K,
    Q8_0,
}

/// What `-q` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    /// Every quantizable weight gets this type (llama-quantize `--pure`).
    Pure(GgmlType),
    Recipe(Recipe),
}

const PURE_TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

const RECIPES: [(&str, Recipe); 6] = [
    ("Q3_K_M", Recipe::Q3_K_M),
    ("Q4_K_S", Recipe::Q4_K_S),
    ("Q4_K_M", Recipe::Q4_K_M),
    ("Q5_K_M", Recipe::Q5_K_M),
    ("Q6_K", Recipe::Q6_K),
    ("Q8_0", Recipe::Q8_0),
];

impl Quant {
    /// `Q4_K_M`, `q4_1`, `f16`, ... Q6_K and Q8_0 name both a type and a recipe; both
    /// give the same file, so they are read as recipes.
    pub fn parse(s: &str) -> Result<Quant, CompressError> {
        let up = s.to_ascii_uppercase();
        if let Some((_, r)) = RECIPES.iter().find(|(n, _)| *n == up) {
            return Ok(Quant::Recipe(*r));
        }
        match GgmlType::from_name(&up) {
            Some(t) if PURE_TYPES.contains(&t) => Ok(Quant::Pure(t)),
            _ => Err(CompressError::Recipe(format!(
                "unknown quantization '{s}': types are {}; recipes are {}",
                PURE_TYPES.map(|t| t.name()).join(", "),
                RECIPES.map(|(n, _)| n).join(", ")
            ))),
        }
    }

    pub fn name(self) -> String {
        match self {
            Quant::Pure(t) => t.name().to_string(),
            Quant::Recipe(r) => RECIPES.iter().find(|(_, x)| *x == r).unwrap().0.into(),
        }
    }

    /// The type most tensors get.
    pub fn base_type(self) -> GgmlType {
        match self {
            Quant::Pure(t) => t,
            Quant::Recipe(Recipe::Q3_K_M) => GgmlType::Q3_K,
            Quant::Recipe(Recipe::Q4_K_S | Recipe::Q4_K_M) => GgmlType::Q4_K,
            Quant::Recipe(Recipe::Q5_K_M) => GgmlType::Q5_K,
            Quant::Recipe(Recipe::Q6_K) => GgmlType::Q6_K,
            Quant::Recipe(Recipe::Q8_0) => GgmlType::Q8_0,
        }
    }

    /// `general.file_type`, numbered as llama.cpp's `llama_ftype`.
    pub fn file_type(self) -> u32 {
        match self {
            Quant::Recipe(r) => match r {
                Recipe::Q3_K_M => 12,
                Recipe::Q4_K_S => 14,
                Recipe::Q4_K_M => 15,
                Recipe::Q5_K_M => 17,
                Recipe::Q6_K => 18,
                Recipe::Q8_0 => 7,
            },
            Quant::Pure(t) => match t {
                GgmlType::F32 => 0,
                GgmlType::F16 => 1,
                GgmlType::Q4_0 => 2,
                GgmlType::Q4_1 => 3,
                GgmlType::Q8_0 => 7,
                GgmlType::Q5_0 => 8,
                GgmlType::Q5_1 => 9,
                GgmlType::Q2_K => 10,
                GgmlType::Q3_K => 11,
                GgmlType::Q4_K => 14,
                GgmlType::Q5_K => 16,
                GgmlType::Q6_K => 18,
                GgmlType::BF16 => 32,
                _ => unreachable!("not in PURE_TYPES"),
            },
        }
    }
}

/// `--tensor-type PATTERN=TYPE`: PATTERN is a regular expression searched in the GGUF
/// tensor name (as llama-quantize does), so `token_embd=Q8_0` or `attn_v=Q6_K` work.
pub struct Override {
    pub pattern: String,
    regex: Regex,
    pub ty: GgmlType,
}

impl Override {
    pub fn parse(s: &str) -> Result<Override, CompressError> {
        let bad = |msg: String| CompressError::Recipe(format!("--tensor-type '{s}': {msg}"));
        let Some((pattern, ty)) = s.rsplit_once('=') else {
            return Err(bad("expected PATTERN=TYPE".into()));
        };
        let ty = match GgmlType::from_name(&ty.to_ascii_uppercase()) {
            Some(t) if PURE_TYPES.contains(&t) => t,
            _ => return Err(bad(format!("unknown type '{ty}'"))),
        };
        let regex = Regex::new(pattern).map_err(|e| bad(format!("bad pattern: {e}")))?;
        Ok(Override {
            pattern: pattern.to_string(),
            regex,
            ty,
        })
    }

    fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name).unwrap_or(false)
    }
}

/// What the type choice needs to know about a tensor and its model.
pub struct TensorShape<'a> {
    pub name: &'a str,
    pub dims: &'a [u64],
    pub n_layers: usize,
    /// Without `output.weight` the embedding doubles as the output matrix.
    pub has_output: bool,
}

/// Weights get quantized; norms, biases and other 1-D tensors stay F32, and so do
/// learned position embeddings (as llama.cpp's converter and llama-quantize keep them).
pub fn is_quantizable(name: &str, dims: &[u64]) -> bool {
    dims.len() >= 2
        && name.ends_with("weight")
        && !name.ends_with("_norm.weight")
        && name != "position_embd.weight"
}

/// The type for one tensor; also says which override (index) decided it, if any.
pub fn choose(quant: Quant, overrides: &[Override], t: &TensorShape) -> (GgmlType, Option<usize>) {
    if !is_quantizable(t.name, t.dims) {
        return (GgmlType::F32, None);
    }
    let (ty, by) = match overrides.iter().position(|o| o.matches(t.name)) {
        Some(i) => (overrides[i].ty, Some(i)),
        None => (mix(quant, t), None),
    };
    (fallback(ty, t.dims[0]), by)
}

/// llama-quantize's per-tensor choice for `quant` (llama_tensor_get_type), for the
/// mixes we offer.
fn mix(quant: Quant, t: &TensorShape) -> GgmlType {
    let base = quant.base_type();
    let Quant::Recipe(recipe) = quant else {
        return base;
    };
    let is_output = t.name == "output.weight" || (!t.has_output && t.name == "token_embd.weight");
    if is_output {
        // The output matrix gets Q6_K unless its rows don't fit the base type's blocks.
        let nx = t.dims[0] as usize;
        return if !nx.is_multiple_of(base.block_size()) {
            GgmlType::Q8_0
        } else if base != GgmlType::Q8_0 {
            GgmlType::Q6_K
        } else {
            base
        };
    }
    let (n, i) = (t.n_layers, layer_of(t.name).unwrap_or(0));
    // Layers near both ends, and every third in between, are the sensitive ones.
    let more_bits = i < n / 8 || i >= 7 * n / 8 || (i as isize - (n / 8) as isize) % 3 == 2;
    let part = t.name.rsplit('.').nth(1).unwrap_or("");
    match (part, recipe) {
        ("attn_v", Recipe::Q3_K_M) => {
            if i < 2 {
                GgmlType::Q5_K
            } else {
                GgmlType::Q4_K
            }
        }
        ("attn_v", Recipe::Q4_K_M | Recipe::Q5_K_M) if more_bits => GgmlType::Q6_K,
        ("attn_v", Recipe::Q4_K_S) if i < 4 => GgmlType::Q5_K,
        ("ffn_down", Recipe::Q3_K_M) => {
            if i < n / 16 {
                GgmlType::Q5_K
            } else {
                GgmlType::Q4_K
            }
        }
        ("ffn_down", Recipe::Q4_K_M | Recipe::Q5_K_M) if more_bits => GgmlType::Q6_K,
        ("ffn_down", Recipe::Q4_K_S) if i < n / 8 => GgmlType::Q5_K,
        ("attn_output", Recipe::Q3_K_M) => GgmlType::Q4_K,
        _ => base,
    }
}

/// A type whose block does not divide the row length falls back as llama-quantize
/// falls back (K-quants to a 32-block type, then F16).
fn fallback(ty: GgmlType, row_len: u64) -> GgmlType {
    let fits = |t: GgmlType| row_len.is_multiple_of(t.block_size() as u64);
    if fits(ty) {
        return ty;
    }
    let alt = match ty {
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        other => other,
    };
    if fits(alt) {
        alt
    } else {
        GgmlType::F16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(q: &str, name: &str, dims: &[u64], has_output: bool) -> GgmlType {
        let t = TensorShape {
            name,
            dims,
            n_layers: 30,
            has_output,
        };
        choose(Quant::parse(q).unwrap(), &[], &t).0
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            Quant::parse("q4_k_m").unwrap(),
            Quant::Recipe(Recipe::Q4_K_M)
        );
        assert_eq!(Quant::parse("Q4_1").unwrap(), Quant::Pure(GgmlType::Q4_1));
        assert_eq!(Quant::parse("bf16").unwrap(), Quant::Pure(GgmlType::BF16));
        let e = Quant::parse("Q9_9").unwrap_err().to_string();
        assert!(
            e.contains("unknown quantization 'Q9_9'") && e.contains("Q4_K_M"),
            "{e}"
        );
        assert!(Quant::parse("Q8_K").is_err());
        assert!(Override::parse("token_embd").is_err());
        assert!(Override::parse("x=Q7").is_err());
        assert!(Override::parse("(=Q8_0").is_err());
    }

    #[test]
    fn one_d_and_norms_stay_f32() {
        assert_eq!(
            pick("Q4_0", "blk.0.attn_norm.weight", &[576], false),
            GgmlType::F32
        );
        assert_eq!(
            pick("Q4_0", "blk.0.attn_q.bias", &[576], false),
            GgmlType::F32
        );
        assert_eq!(
            pick("F16", "blk.0.attn_q.weight", &[576, 576], false),
            GgmlType::F16
        );
    }

    /// SmolLM2 shapes (576 columns: not a multiple of 256) as llama-quantize treats them.
    #[test]
    fn q4_k_m_follows_llama_quantize() {
        let q = "Q4_K_M";
        // Tied embedding = output: Q6_K, but 576 % 256 != 0 -> Q8_0.
        assert_eq!(
            pick(q, "token_embd.weight", &[576, 49152], false),
            GgmlType::Q8_0
        );
        // With a separate output the embedding is an ordinary weight: Q4_K -> Q5_0.
        assert_eq!(
            pick(q, "token_embd.weight", &[576, 49152], true),
            GgmlType::Q5_0
        );
        assert_eq!(
            pick(q, "output.weight", &[4096, 32000], true),
            GgmlType::Q6_K
        );
        assert_eq!(
            pick(q, "blk.5.attn_q.weight", &[576, 576], false),
            GgmlType::Q5_0
        );
        assert_eq!(
            pick(q, "blk.5.attn_q.weight", &[4096, 4096], false),
            GgmlType::Q4_K
        );
        // attn_v: more bits in layers 0-2, 27-29 and every third from 3 (5, 8, ...).
        let v = |i: usize| pick(q, &format!("blk.{i}.attn_v.weight"), &[4096, 1024], false);
        assert_eq!(v(0), GgmlType::Q6_K);
        assert_eq!(v(3), GgmlType::Q4_K);
        assert_eq!(v(5), GgmlType::Q6_K);
        assert_eq!(v(29), GgmlType::Q6_K);
        // ffn_down rows of 1536 fit K blocks.
        let d = |i: usize| pick(q, &format!("blk.{i}.ffn_down.weight"), &[1536, 576], false);
        assert_eq!(d(2), GgmlType::Q6_K);
        assert_eq!(d(4), GgmlType::Q4_K);
    }

    #[test]
    fn overrides_win_and_still_fall_back() {
        let o = [Override::parse("token_embd=Q8_0").unwrap()];
        let t = TensorShape {
            name: "token_embd.weight",
            dims: &[576, 49152],
            n_layers: 30,
            has_output: false,
        };
        assert_eq!(
            choose(Quant::Pure(GgmlType::Q4_1), &o, &t),
            (GgmlType::Q8_0, Some(0))
        );
        let o = [Override::parse("attn_q=Q4_K").unwrap()];
        let t = TensorShape {
            name: "blk.0.attn_q.weight",
            dims: &[576, 576],
            n_layers: 30,
            has_output: false,
        };
        assert_eq!(
            choose(Quant::Pure(GgmlType::Q4_1), &o, &t),
            (GgmlType::Q5_0, Some(0))
        );
        // Rows of 100 fit no block: F16.
        let t = TensorShape {
            name: "blk.0.attn_q.weight",
            dims: &[100, 8],
            n_layers: 30,
            has_output: false,
        };
        assert_eq!(
            choose(Quant::Pure(GgmlType::Q4_0), &[], &t).0,
            GgmlType::F16
        );
    }
}
