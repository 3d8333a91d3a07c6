//! Which ggml type each tensor gets, as llama-quantize decides it: `-q TYPE` names a
//! llama.cpp file type (`LLAMA_FTYPE_MOSTLY_*`) and gives its mix, in which the tensors
//! that hurt most when squeezed (the output matrix, attn_v, ffn_down) get more bits;
//! `--pure` gives every weight the file type's one type. `--tensor-type` overrides win
//! over both. A type whose block does not divide a tensor's rows falls back as
//! llama-quantize falls back, and the choice records both.

use edgelm_kernels::quant::GgmlType;
use fancy_regex::Regex;

use crate::CompressError;

/// The file types `-q` accepts: llama-quantize's names for those our quantizers write
/// (Q2_K_S is left out: llama-quantize refuses it without an importance matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

/// Name, file type, `general.file_type` (llama.cpp's `llama_ftype`) and default type.
const FILE_TYPES: [(&str, FileType, u32, GgmlType); 17] = [
    ("F32", FileType::F32, 0, GgmlType::F32),
    ("F16", FileType::F16, 1, GgmlType::F16),
    ("BF16", FileType::BF16, 32, GgmlType::BF16),
    ("Q4_0", FileType::Q4_0, 2, GgmlType::Q4_0),
    ("Q4_1", FileType::Q4_1, 3, GgmlType::Q4_1),
    ("Q5_0", FileType::Q5_0, 8, GgmlType::Q5_0),
    ("Q5_1", FileType::Q5_1, 9, GgmlType::Q5_1),
    ("Q8_0", FileType::Q8_0, 7, GgmlType::Q8_0),
    ("Q2_K", FileType::Q2_K, 10, GgmlType::Q2_K),
    ("Q3_K_S", FileType::Q3_K_S, 11, GgmlType::Q3_K),
    ("Q3_K_M", FileType::Q3_K_M, 12, GgmlType::Q3_K),
    ("Q3_K_L", FileType::Q3_K_L, 13, GgmlType::Q3_K),
    ("Q4_K_S", FileType::Q4_K_S, 14, GgmlType::Q4_K),
    ("Q4_K_M", FileType::Q4_K_M, 15, GgmlType::Q4_K),
    ("Q5_K_S", FileType::Q5_K_S, 16, GgmlType::Q5_K),
    ("Q5_K_M", FileType::Q5_K_M, 17, GgmlType::Q5_K),
    ("Q6_K", FileType::Q6_K, 18, GgmlType::Q6_K),
];

/// llama-quantize's aliases.
const ALIASES: [(&str, FileType); 3] = [
    ("Q3_K", FileType::Q3_K_M),
    ("Q4_K", FileType::Q4_K_M),
    ("Q5_K", FileType::Q5_K_M),
];

/// The types `--tensor-type` accepts.
const TENSOR_TYPES: [GgmlType; 13] = [
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

impl FileType {
    fn entry(self) -> &'static (&'static str, FileType, u32, GgmlType) {
        FILE_TYPES
            .iter()
            .find(|e| e.1 == self)
            .expect("in the table")
    }
    pub fn name(self) -> &'static str {
        self.entry().0
    }
    /// `general.file_type`.
    pub fn number(self) -> u32 {
        self.entry().2
    }
    /// The type most tensors get (llama.cpp's `llama_ftype_get_default_type`).
    pub fn default_type(self) -> GgmlType {
        self.entry().3
    }
}

/// What `-q` (and `--pure`) asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quant {
    pub ftype: FileType,
    /// Every quantizable weight gets the default type (llama-quantize `--pure`).
    pub pure: bool,
}

impl Quant {
    /// `Q4_K_M`, `q4_0`, `f16`, ... as llama-quantize names them (`Q4_K` is `Q4_K_M`).
    pub fn parse(s: &str) -> Result<Quant, CompressError> {
        let up = s.to_ascii_uppercase();
        let found = FILE_TYPES
            .iter()
            .find(|e| e.0 == up)
            .map(|e| e.1)
            .or_else(|| ALIASES.iter().find(|(n, _)| *n == up).map(|(_, f)| *f));
        match found {
            Some(ftype) => Ok(Quant { ftype, pure: false }),
            None if up == "Q2_K_S" => Err(CompressError::Recipe(
                "Q2_K_S needs an importance matrix (llama-quantize refuses it without \
                 --imatrix), which edgelm-compress does not compute; use Q2_K"
                    .into(),
            )),
            None => Err(CompressError::Recipe(format!(
                "unknown quantization '{s}': choose one of {} (Q3_K, Q4_K, Q5_K are \
                 Q3_K_M, Q4_K_M, Q5_K_M, as in llama-quantize)",
                FILE_TYPES.map(|e| e.0).join(", "),
            ))),
        }
    }

    /// The same file type with every weight of its default type.
    pub fn pure(self) -> Quant {
        Quant { pure: true, ..self }
    }

    /// `Q4_K_M`, or `Q4_K_M --pure`.
    pub fn name(self) -> String {
        if self.pure && self.ftype.default_type().is_quantized() {
            format!("{} --pure", self.ftype.name())
        } else {
            self.ftype.name().to_string()
        }
    }

    /// The type most tensors get.
    pub fn base_type(self) -> GgmlType {
        self.ftype.default_type()
    }

    /// `general.file_type`, numbered as llama.cpp's `llama_ftype`.
    pub fn file_type(self) -> u32 {
        self.ftype.number()
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
            Some(t) if TENSOR_TYPES.contains(&t) => t,
            _ => {
                return Err(bad(format!(
                    "unknown type '{ty}': types are {}",
                    TENSOR_TYPES.map(|t| t.name()).join(", ")
                )))
            }
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

/// What the mixes need to know about the model (llama.cpp reads it from the hparams).
#[derive(Clone, Debug, Default)]
pub struct ModelInfo {
    /// GGUF `general.architecture`.
    pub arch: String,
    pub n_layers: usize,
    /// Layer 0's query and key/value head counts (`n_gqa` = their ratio).
    pub n_head: usize,
    pub n_head_kv: usize,
}

impl ModelInfo {
    fn n_gqa(&self) -> usize {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }
    /// llama.cpp's `LLM_TYPE_70B`, the one model size the mixes look at.
    fn is_70b(&self) -> bool {
        self.n_layers == 80
            && match self.arch.as_str() {
                "llama" => self.n_head != self.n_head_kv,
                "qwen2" => true,
                _ => false,
            }
    }
    fn falcon(&self) -> bool {
        self.arch == "falcon"
    }
}

/// One tensor: its GGUF name and ggml dims (`dims[0]` is the row length).
pub struct TensorShape<'a> {
    pub name: &'a str,
    pub dims: &'a [u64],
}

/// The type a tensor gets, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What is written.
    pub ty: GgmlType,
    /// What the recipe or override asked for; differs from `ty` when the rows fit no
    /// block of that type and it fell back.
    pub wanted: GgmlType,
    /// The override (index) that decided it, if any.
    pub by: Option<usize>,
}

impl Choice {
    pub fn fell_back(&self) -> bool {
        self.ty != self.wanted
    }
}

/// Weights get quantized; norms, biases and other 1-D tensors stay F32, and so do
/// learned position embeddings (as llama.cpp's converter and llama-quantize keep them).
pub fn is_quantizable(name: &str, dims: &[u64]) -> bool {
    dims.len() >= 2
        && name.ends_with("weight")
        && !name.ends_with("_norm.weight")
        && name != "position_embd.weight"
}

/// llama-quantize's broad tensor categories (by name, as `tensor_get_category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    Output,
    /// attn_v, and the fused attn_qkv / attn_kv_b that hold the values too.
    AttnV,
    AttnOutput,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    if name == "output.weight" {
        Category::Output
    } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        Category::TokenEmbd
    } else if ["attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight"]
        .iter()
        .any(|p| name.contains(p))
    {
        Category::AttnV
    } else if name.contains("attn_k.weight") || name.contains("attn_q.weight") {
        Category::Other
    } else if name.contains("attn_output.weight") {
        Category::AttnOutput
    } else if name.contains("ffn_up") || name.contains("ffn_gate") {
        Category::Other
    } else if name.contains("ffn_down") {
        Category::FfnDown
    } else {
        Category::Other
    }
}

/// The layer of a `blk.N.` name, -1 for the others (llama.cpp's `sscanf("blk.%d.")`).
fn layer_key(name: &str) -> i64 {
    name.strip_prefix("blk.")
        .and_then(|r| {
            let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .unwrap_or(-1)
}

/// The type of every tensor, in the order given. llama-quantize walks the tensors by
/// layer (then by name) and counts the attn_v and ffn_down tensors it has seen: the
/// mixes give more bits to some of them by that count, so the walk is the same here.
pub fn choose_all(
    quant: Quant,
    overrides: &[Override],
    model: &ModelInfo,
    tensors: &[TensorShape],
) -> Vec<Choice> {
    let cats: Vec<Category> = tensors.iter().map(|t| category(t.name)).collect();
    let tied = !cats.contains(&Category::Output);
    let n_attn_v = cats.iter().filter(|c| **c == Category::AttnV).count();
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        (layer_key(tensors[a].name), tensors[a].name)
            .cmp(&(layer_key(tensors[b].name), tensors[b].name))
    });
    let base = quant.base_type();
    let mixed = !quant.pure && base.is_quantized();
    let mut counts = Counts::default();
    let mut out = vec![
        Choice {
            ty: GgmlType::F32,
            wanted: GgmlType::F32,
            by: None
        };
        tensors.len()
    ];
    for i in order {
        let t = &tensors[i];
        if !is_quantizable(t.name, t.dims) {
            continue;
        }
        let (wanted, by) = match overrides.iter().position(|o| o.matches(t.name)) {
            Some(k) => (overrides[k].ty, Some(k)),
            None if mixed => {
                let cat = if tied && cats[i] == Category::TokenEmbd {
                    Category::Output
                } else {
                    cats[i]
                };
                let ty = mix(quant.ftype, model, t, cat, n_attn_v, &mut counts);
                (ty, None)
            }
            None => (base, None),
        };
        out[i] = Choice {
            ty: fallback(wanted, t.dims[0]),
            wanted,
            by,
        };
    }
    out
}

/// The attn_v-like and ffn_down tensors seen so far (llama.cpp's `i_attention_wv`,
/// `i_ffn_down`).
#[derive(Default)]
struct Counts {
    attn_v: usize,
    ffn_down: usize,
}

/// Layers near both ends, and every third in between, are the sensitive ones.
fn use_more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// llama-quantize's choice for one tensor of a mixed file type (the rules of
/// `llama_tensor_get_type_impl` for the file types we write; MoE models, which the
/// compressor does not read, have rules of their own there).
fn mix(
    ftype: FileType,
    model: &ModelInfo,
    t: &TensorShape,
    cat: Category,
    n_attn_v: usize,
    counts: &mut Counts,
) -> GgmlType {
    use FileType as F;
    use GgmlType as G;
    let base = ftype.default_type();
    match cat {
        // The output matrix (or the tied embedding that doubles as it): Q6_K, or Q8_0
        // when its rows don't fit the base type's blocks.
        Category::Output => {
            let nx = t.dims[0] as usize;
            if model.falcon() || !nx.is_multiple_of(base.block_size()) {
                G::Q8_0
            } else if base != G::Q8_0 {
                G::Q6_K
            } else {
                base
            }
        }
        Category::AttnV => {
            let i = counts.attn_v;
            counts.attn_v += 1;
            let mut ty = match ftype {
                F::Q2_K if model.n_gqa() >= 4 => G::Q4_K,
                F::Q2_K => G::Q3_K,
                F::Q3_K_M if i < 2 => G::Q5_K,
                F::Q3_K_M => G::Q4_K,
                F::Q3_K_L => G::Q5_K,
                F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n_attn_v) => G::Q6_K,
                F::Q4_K_S if i < 4 => G::Q5_K,
                _ => base,
            };
            // 70B models share each attn_v among 8 heads: it is small, so it gets more.
            if model.is_70b() && matches!(ty, G::Q3_K | G::Q4_K) {
                ty = G::Q5_K;
            }
            ty
        }
        Category::FfnDown => {
            let (i, n) = (counts.ffn_down, model.n_layers);
            counts.ffn_down += 1;
            let more = use_more_bits(i, n);
            let falcon = model.falcon();
            match ftype {
                F::Q2_K => G::Q3_K,
                F::Q3_K_M if i < n / 16 => G::Q5_K,
                F::Q3_K_M if !falcon || more => G::Q4_K,
                F::Q3_K_M => G::Q3_K,
                F::Q3_K_L if falcon => G::Q4_K,
                F::Q3_K_L => G::Q5_K,
                F::Q4_K_M if falcon && i < n / 16 => G::Q6_K,
                F::Q4_K_M if falcon && more => G::Q5_K,
                F::Q4_K_M if falcon => G::Q4_K,
                F::Q4_K_M | F::Q5_K_M if more => G::Q6_K,
                F::Q4_K_S if !falcon && i < n / 8 => G::Q5_K,
                _ => base,
            }
        }
        Category::AttnOutput => match ftype {
            F::Q3_K_L if model.falcon() => G::Q4_K,
            _ if model.falcon() => base,
            F::Q2_K => G::Q3_K,
            F::Q3_K_M => G::Q4_K,
            F::Q3_K_L => G::Q5_K,
            _ => base,
        },
        Category::TokenEmbd | Category::Other => base,
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

/// How many tensors fell back, per (wanted, used) type pair, in order of first
/// appearance; pairs that are equal (no fallback) are not counted.
pub fn fallback_counts(
    pairs: impl IntoIterator<Item = (GgmlType, GgmlType)>,
) -> Vec<(GgmlType, GgmlType, usize)> {
    let mut counts: Vec<(GgmlType, GgmlType, usize)> = Vec::new();
    for (wanted, used) in pairs.into_iter().filter(|(w, u)| w != u) {
        match counts
            .iter_mut()
            .find(|(w, u, _)| (*w, *u) == (wanted, used))
        {
            Some((_, _, n)) => *n += 1,
            None => counts.push((wanted, used, 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SmolLM2-shaped model (30 layers, 9/3 heads) with `names` of `dims`.
    fn smol() -> ModelInfo {
        ModelInfo {
            arch: "llama".into(),
            n_layers: 30,
            n_head: 9,
            n_head_kv: 3,
        }
    }

    fn pick_in(q: Quant, model: &ModelInfo, ts: &[(&str, &[u64])], name: &str) -> Choice {
        let shapes: Vec<TensorShape> = ts
            .iter()
            .map(|(name, dims)| TensorShape { name, dims })
            .collect();
        let i = ts.iter().position(|(n, _)| *n == name).unwrap();
        choose_all(q, &[], model, &shapes)[i]
    }

    fn pick(q: &str, name: &str, dims: &[u64], has_output: bool) -> GgmlType {
        let mut ts: Vec<(&str, &[u64])> = vec![(name, dims)];
        if has_output && name != "output.weight" {
            ts.push(("output.weight", &[4096, 32000]));
        }
        pick_in(Quant::parse(q).unwrap(), &smol(), &ts, name).ty
    }

    /// attn_v / ffn_down of every layer, as llama-quantize counts them.
    fn layers(part: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("blk.{i}.{part}.weight")).collect()
    }

    fn layer_types(q: &str, part: &str, dims: &[u64], model: &ModelInfo) -> Vec<GgmlType> {
        let names = layers(part, model.n_layers);
        let shapes: Vec<TensorShape> = names
            .iter()
            .map(|n| TensorShape { name: n, dims })
            .collect();
        choose_all(Quant::parse(q).unwrap(), &[], model, &shapes)
            .iter()
            .map(|c| c.ty)
            .collect()
    }

    #[test]
    fn names_parse() {
        let q = Quant::parse("q4_k_m").unwrap();
        assert_eq!((q.ftype, q.pure), (FileType::Q4_K_M, false));
        assert_eq!(Quant::parse("Q4_K").unwrap().ftype, FileType::Q4_K_M);
        assert_eq!(Quant::parse("Q4_1").unwrap().ftype, FileType::Q4_1);
        assert_eq!(Quant::parse("bf16").unwrap().file_type(), 32);
        assert_eq!(
            Quant::parse("Q4_K_S").unwrap().pure().name(),
            "Q4_K_S --pure"
        );
        assert_eq!(Quant::parse("F16").unwrap().pure().name(), "F16");
        let e = Quant::parse("Q9_9").unwrap_err().to_string();
        assert!(
            e.contains("unknown quantization 'Q9_9'") && e.contains("Q4_K_M"),
            "{e}"
        );
        assert!(Quant::parse("Q8_K").is_err());
        let e = Quant::parse("Q2_K_S").unwrap_err().to_string();
        assert!(e.contains("importance matrix"), "{e}");
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

    /// The legacy types are mixes too: the output matrix gets Q6_K (Q8_0 where its rows
    /// fit no 256-block), everything else the type; --pure gives the type everywhere.
    #[test]
    fn legacy_types_give_the_output_more_bits() {
        for q in ["Q4_0", "Q4_1", "Q5_0", "Q5_1"] {
            assert_eq!(
                pick(q, "output.weight", &[4096, 32000], true),
                GgmlType::Q6_K
            );
            assert_eq!(
                pick(q, "token_embd.weight", &[576, 49152], false),
                GgmlType::Q8_0,
                "{q}: tied embedding"
            );
            let base = Quant::parse(q).unwrap().base_type();
            assert_eq!(pick(q, "token_embd.weight", &[576, 49152], true), base);
            assert_eq!(pick(q, "blk.3.attn_v.weight", &[576, 192], true), base);
            assert_eq!(pick(q, "blk.3.ffn_down.weight", &[1536, 576], true), base);
            let pure = Quant::parse(q).unwrap().pure();
            let t = [("token_embd.weight", &[576u64, 49152][..])];
            assert_eq!(pick_in(pure, &smol(), &t, "token_embd.weight").ty, base);
        }
        // Q8_0's output stays Q8_0.
        assert_eq!(
            pick("Q8_0", "output.weight", &[4096, 32000], true),
            GgmlType::Q8_0
        );
        // Float files are never mixed.
        assert_eq!(
            pick("F16", "output.weight", &[4096, 32000], true),
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
        let v = layer_types(q, "attn_v", &[4096, 1024], &smol());
        assert_eq!(v[0], GgmlType::Q6_K);
        assert_eq!(v[3], GgmlType::Q4_K);
        assert_eq!(v[5], GgmlType::Q6_K);
        assert_eq!(v[29], GgmlType::Q6_K);
        // ffn_down rows of 1536 fit K blocks.
        let d = layer_types(q, "ffn_down", &[1536, 576], &smol());
        assert_eq!(d[2], GgmlType::Q6_K);
        assert_eq!(d[4], GgmlType::Q4_K);
    }

    #[test]
    fn q2_k_and_q3_k_l_rules() {
        let m = smol();
        // n_gqa 3: attn_v Q3_K; 4 or more: Q4_K.
        assert!(layer_types("Q2_K", "attn_v", &[4096, 1024], &m)
            .iter()
            .all(|t| *t == GgmlType::Q3_K));
        let gqa4 = ModelInfo {
            n_head: 32,
            n_head_kv: 8,
            ..smol()
        };
        assert!(layer_types("Q2_K", "attn_v", &[4096, 1024], &gqa4)
            .iter()
            .all(|t| *t == GgmlType::Q4_K));
        assert!(layer_types("Q2_K", "ffn_down", &[4096, 1024], &m)
            .iter()
            .all(|t| *t == GgmlType::Q3_K));
        assert!(layer_types("Q2_K", "attn_output", &[4096, 4096], &m)
            .iter()
            .all(|t| *t == GgmlType::Q3_K));
        assert!(layer_types("Q3_K_L", "attn_v", &[4096, 1024], &m)
            .iter()
            .all(|t| *t == GgmlType::Q5_K));
        assert!(layer_types("Q3_K_S", "attn_v", &[4096, 1024], &m)
            .iter()
            .all(|t| *t == GgmlType::Q3_K));
        // Q3_K_M: first two attn_v Q5_K; ffn_down Q5_K below n/16, then Q4_K.
        let v = layer_types("Q3_K_M", "attn_v", &[4096, 1024], &m);
        assert_eq!((v[1], v[2]), (GgmlType::Q5_K, GgmlType::Q4_K));
        let d = layer_types("Q3_K_M", "ffn_down", &[4096, 1024], &m);
        assert_eq!(
            (d[0], d[1], d[2]),
            (GgmlType::Q5_K, GgmlType::Q4_K, GgmlType::Q4_K)
        );
        // A 70B llama: attn_v Q3_K/Q4_K become Q5_K.
        let big = ModelInfo {
            n_layers: 80,
            n_head: 64,
            n_head_kv: 8,
            ..smol()
        };
        assert!(layer_types("Q3_K_M", "attn_v", &[8192, 1024], &big)
            .iter()
            .all(|t| *t == GgmlType::Q5_K));
    }

    /// llama-quantize counts attn_v tensors in layer order (blk.2 before blk.10), not in
    /// name order, and a fused attn_qkv counts as attn_v.
    #[test]
    fn attn_v_counts_follow_layers() {
        let m = ModelInfo {
            n_layers: 12,
            ..smol()
        };
        let names = layers("attn_qkv", 12);
        let mut shapes: Vec<TensorShape> = names
            .iter()
            .map(|n| TensorShape {
                name: n,
                dims: &[4096, 12288],
            })
            .collect();
        shapes.reverse();
        let c = choose_all(Quant::parse("Q3_K_M").unwrap(), &[], &m, &shapes);
        // blk.0 and blk.1 (last two in this order) get Q5_K.
        let q5: Vec<&str> = shapes
            .iter()
            .zip(&c)
            .filter(|(_, c)| c.ty == GgmlType::Q5_K)
            .map(|(s, _)| s.name)
            .collect();
        assert_eq!(q5, ["blk.1.attn_qkv.weight", "blk.0.attn_qkv.weight"]);
    }

    #[test]
    fn overrides_win_and_still_fall_back() {
        let m = smol();
        let q41 = Quant::parse("Q4_1").unwrap().pure();
        let o = [Override::parse("token_embd=Q8_0").unwrap()];
        let t = [TensorShape {
            name: "token_embd.weight",
            dims: &[576, 49152],
        }];
        assert_eq!(
            choose_all(q41, &o, &m, &t)[0],
            Choice {
                ty: GgmlType::Q8_0,
                wanted: GgmlType::Q8_0,
                by: Some(0)
            }
        );
        let o = [Override::parse("attn_q=Q4_K").unwrap()];
        let t = [TensorShape {
            name: "blk.0.attn_q.weight",
            dims: &[576, 576],
        }];
        assert_eq!(
            choose_all(q41, &o, &m, &t)[0],
            Choice {
                ty: GgmlType::Q5_0,
                wanted: GgmlType::Q4_K,
                by: Some(0)
            }
        );
        // Rows of 100 fit no block: F16.
        let t = [TensorShape {
            name: "blk.0.attn_q.weight",
            dims: &[100, 8],
        }];
        let c = choose_all(Quant::parse("Q4_0").unwrap(), &[], &m, &t);
        assert_eq!(c[0].ty, GgmlType::F16);
        assert_eq!(
            fallback_counts(c.iter().map(|c| (c.wanted, c.ty))),
            [(GgmlType::Q4_0, GgmlType::F16, 1)]
        );
    }
}
