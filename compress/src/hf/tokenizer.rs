//! `tokenizer.json` or `tokenizer.model` (+ `tokenizer_config.json`, `config.json`, chat
//! template files) → the `tokenizer.*` GGUF metadata convert_hf_to_gguf.py writes: for a
//! byte-level BPE vocabulary (`tokenizer.ggml.model = gpt2`) its `get_vocab_base` token
//! list and types, for a SentencePiece one (`llama`) `_create_vocab_sentencepiece`'s
//! tokens, scores and types; then gguf-py's `SpecialVocab` (merges, special token ids,
//! add_*_token, chat template).

use std::collections::HashMap;
use std::path::Path;

use edgelm_runtime::gguf::{MetaArray, MetaValue};
use serde_json::Value;

use super::config::{Arch, HfConfig};
use super::json::{read_json, Obj};
use super::pre_tokenizer::pre_tokenizer_name;
use super::sentencepiece::{PieceType, SpmModel};
use super::special::{special_vocab, truthy, SpecialVocab};
use crate::input_file::is_present;
use crate::CompressError;

/// gguf `TokenType` values.
pub const TOKEN_NORMAL: i32 = 1;
pub const TOKEN_UNKNOWN: i32 = 2;
pub const TOKEN_CONTROL: i32 = 3;
pub const TOKEN_USER_DEFINED: i32 = 4;
pub const TOKEN_UNUSED: i32 = 5;
pub const TOKEN_BYTE: i32 = 6;

/// One entry of tokenizer.json's `added_tokens`.
#[derive(Clone, Debug)]
pub(crate) struct AddedToken {
    pub id: u32,
    pub content: String,
    pub special: bool,
    pub normalized: bool,
}

/// The tokenizer metadata for the model directory `dir` whose config is `config`, from
/// the file the converter would read for that architecture: a SentencePiece
/// `tokenizer.model` (`tokenizer.ggml.model = llama`) or a byte-level BPE
/// `tokenizer.json` (`gpt2`). The vocabulary is padded with `[PAD{id}]` tokens (type
/// unused) up to `config.vocab_size`, as the converter does.
pub fn tokenizer_metadata(
    dir: &Path,
    config: &HfConfig,
) -> Result<Vec<(String, MetaValue)>, CompressError> {
    let spm_path = dir.join("tokenizer.model");
    let has_spm = is_present(&spm_path);
    match config.arch {
        // GPT2Model.set_vocab: always the BPE tokenizer.json.
        Arch::Gpt2 => bpe_metadata(dir, config),
        // Qwen2Model.set_vocab: tokenizer.model first.
        Arch::Qwen2 | Arch::Qwen3 if has_spm => spm_metadata(dir, config, SpmFlavour::Base),
        Arch::Qwen2 | Arch::Qwen3 => bpe_metadata(dir, config),
        // Gemma2Model.set_vocab reads only tokenizer.model; Gemma3Model prefers it. Both
        // turn off the space prefix.
        Arch::Gemma2 if !has_spm => Err(CompressError::input(
            &spm_path,
            "is missing (Gemma 2's vocabulary is read from its SentencePiece tokenizer.model, as llama.cpp's converter reads it)",
        )),
        Arch::Gemma2 | Arch::Gemma3 if has_spm => {
            let mut out = spm_metadata(dir, config, SpmFlavour::Base)?;
            set(
                &mut out,
                "tokenizer.ggml.add_space_prefix",
                MetaValue::Bool(false),
            );
            Ok(out)
        }
        Arch::Gemma2 | Arch::Gemma3 => bpe_metadata(dir, config),
        // Phi3MiniModel.set_vocab: BPE only when tokenizer_config.json names
        // GPT2Tokenizer (Phi-4), otherwise its own reading of tokenizer.model.
        Arch::Phi3 => {
            let tc_path = dir.join("tokenizer_config.json");
            let class = if is_present(&tc_path) {
                read_json(&tc_path)?
                    .get("tokenizer_class")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            } else {
                None
            };
            if class.as_deref() == Some("GPT2Tokenizer") {
                return bpe_metadata(dir, config);
            }
            if !has_spm {
                return Err(CompressError::input(
                    &spm_path,
                    "is missing (llama.cpp's converter reads a Phi-3 vocabulary from tokenizer.model unless tokenizer_config.json's tokenizer_class is GPT2Tokenizer)",
                ));
            }
            spm_metadata(dir, config, SpmFlavour::Phi3)
        }
        Arch::Llama => {
            let mut out = Vec::new();
            // LlamaModel.set_vocab reads tokenizer_config.json's add_prefix_space first.
            let tc_path = dir.join("tokenizer_config.json");
            if is_present(&tc_path) {
                if let Some(v) = read_json(&tc_path)?
                    .get("add_prefix_space")
                    .and_then(Value::as_bool)
                {
                    out.push(("tokenizer.ggml.add_space_prefix".into(), MetaValue::Bool(v)));
                }
            }
            let vocab = if has_spm {
                spm_metadata(dir, config, SpmFlavour::Base)?
            } else {
                bpe_metadata(dir, config)?
            };
            for (k, v) in vocab {
                set(&mut out, &k, v);
            }
            // "granite small models" (vocab 49152, which SmolLM2 shares) never add BOS.
            if config.vocab_size == 49152 {
                set(
                    &mut out,
                    "tokenizer.ggml.add_bos_token",
                    MetaValue::Bool(false),
                );
            }
            Ok(out)
        }
    }
}

/// The converter's `_set_vocab_gpt2` for a byte-level BPE tokenizer.json.
fn bpe_metadata(dir: &Path, config: &HfConfig) -> Result<Vec<(String, MetaValue)>, CompressError> {
    let tj_path = dir.join("tokenizer.json");
    if !is_present(&tj_path) {
        return Err(CompressError::input(
            &tj_path,
            "is missing (a Hugging Face fast tokenizer.json is needed)",
        ));
    }
    let tj = read_json(&tj_path)?;
    let root = Obj::new(&tj_path, &tj, "tokenizer.json")?;
    let model_v = root
        .get("model")
        .ok_or_else(|| CompressError::input(&tj_path, "no `model` object"))?;
    let model = Obj::new(&tj_path, model_v, "`model`")?;
    match model.str("type")? {
        Some("BPE") => {}
        other => {
            return Err(CompressError::input(
                &tj_path,
                format!(
                    "tokenizer model type {} is not supported (only byte-level BPE)",
                    other.unwrap_or("(none)")
                ),
            ))
        }
    }
    if model.bool("byte_fallback")?.unwrap_or(false) {
        return Err(CompressError::input(
            &tj_path,
            "SentencePiece-style BPE (byte_fallback=true) is not supported yet; only byte-level BPE",
        ));
    }
    check_normalizer(&tj_path, root.get("normalizer"))?;
    let ignore_merges = model.bool("ignore_merges")?.unwrap_or(false);
    let pre = pre_tokenizer_name(&tj_path, &tj, ignore_merges)?;

    let vocab = parse_vocab(&tj_path, model.get("vocab"))?;
    let added = parse_added(&tj_path, root.get("added_tokens"))?;
    let n = config.vocab_size as usize;
    let max_id = vocab
        .values()
        .copied()
        .chain(added.iter().map(|t| t.id))
        .max();
    if let Some(max_id) = max_id {
        if max_id as usize >= n {
            return Err(CompressError::input(
                &tj_path,
                format!("token id {max_id} does not fit config.json's vocab_size {n}"),
            ));
        }
    }
    let (tokens, types) = token_list(n, &vocab, &added);
    let merges = parse_merges(&tj_path, model.get("merges"), &vocab)?;

    let sv = special_vocab(dir, &tj, &added, None)?;
    let mut out: Vec<(String, MetaValue)> = vec![
        (
            "tokenizer.ggml.model".into(),
            MetaValue::String("gpt2".into()),
        ),
        ("tokenizer.ggml.pre".into(), MetaValue::String(pre.into())),
        (
            "tokenizer.ggml.tokens".into(),
            MetaValue::Array(MetaArray::String(tokens.into())),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            MetaValue::Array(MetaArray::I32(types)),
        ),
    ];
    // gguf-py skips empty arrays.
    if !merges.is_empty() {
        out.push((
            "tokenizer.ggml.merges".into(),
            MetaValue::Array(MetaArray::String(merges.into())),
        ));
    }
    push_special(&mut out, &sv);
    Ok(out)
}

/// Sets `key`, in place when present (a Python dict keeps the first position).
fn set(out: &mut Vec<(String, MetaValue)>, key: &str, v: MetaValue) {
    match out.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = v,
        None => out.push((key.to_string(), v)),
    }
}

/// Special token ids, add_*_token flags and chat templates in SpecialVocab's order.
fn push_special(out: &mut Vec<(String, MetaValue)>, sv: &SpecialVocab) {
    for (typ, id) in &sv.ids {
        let key = match typ.as_str() {
            "bos" => "bos_token_id",
            "eos" => "eos_token_id",
            "unk" => "unknown_token_id",
            "sep" => "seperator_token_id",
            "pad" => "padding_token_id",
            "mask" => "mask_token_id",
            "eot" => "eot_token_id",
            "eom" => "eom_token_id",
            // gguf-py has no key for cls: skipped.
            _ => continue,
        };
        set(out, &format!("tokenizer.ggml.{key}"), MetaValue::U32(*id));
    }
    for (typ, v) in &sv.add {
        if matches!(typ.as_str(), "bos" | "eos" | "sep") {
            set(
                out,
                &format!("tokenizer.ggml.add_{typ}_token"),
                MetaValue::Bool(*v),
            );
        }
    }
    if let Some(t) = &sv.chat_template {
        out.push((
            "tokenizer.chat_template".into(),
            MetaValue::String(t.clone()),
        ));
    }
    if !sv.named_templates.is_empty() {
        for (name, t) in &sv.named_templates {
            out.push((
                format!("tokenizer.chat_template.{name}"),
                MetaValue::String(t.clone()),
            ));
        }
        let names = sv.named_templates.iter().map(|(n, _)| n.clone()).collect();
        out.push((
            "tokenizer.chat_templates".into(),
            MetaValue::Array(MetaArray::String(names)),
        ));
    }
    if let Some(v) = sv.normalizer_lowercase {
        set(
            out,
            "tokenizer.ggml.normalizer.lowercase",
            MetaValue::Bool(v),
        );
    }
    if let Some(v) = sv.normalizer_strip_accents {
        set(
            out,
            "tokenizer.ggml.normalizer.strip_accents",
            MetaValue::Bool(v),
        );
    }
}

/// Which of the converter's readings of tokenizer.model.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpmFlavour {
    /// `_create_vocab_sentencepiece` (llama, qwen2/3, gemma2/3).
    Base,
    /// `Phi3MiniModel.set_vocab`'s own copy: added tokens from tokenizer_config.json and
    /// tokenizer.json are user-defined or control by their `special` flag alone.
    Phi3,
}

/// The converter's `_set_vocab_sentencepiece` (or Phi-3's variant): the pieces of
/// tokenizer.model with their scores and types, overridden by added_tokens.json and
/// tokenizer_config.json's `added_tokens_decoder` (and, for Phi-3, tokenizer.json's
/// `added_tokens`), then gguf-py's `SpecialVocab`.
fn spm_metadata(
    dir: &Path,
    config: &HfConfig,
    flavour: SpmFlavour,
) -> Result<Vec<(String, MetaValue)>, CompressError> {
    let spm_path = dir.join("tokenizer.model");
    let spm = SpmModel::open(&spm_path)?;
    let n = config.vocab_size as usize;
    let mut tokens: Vec<String> = (0..n).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![-10000.0f32; n];
    let mut types = vec![TOKEN_UNUSED; n];
    if flavour == SpmFlavour::Phi3 && spm.pieces.len() > n {
        return Err(CompressError::input(
            &spm_path,
            format!(
                "has {} pieces, more than config.json's vocab_size {n}",
                spm.pieces.len()
            ),
        ));
    }
    // Pieces past vocab_size are dropped, as the converter drops them (with a warning).
    for (i, p) in spm.pieces.iter().enumerate().take(n) {
        tokens[i] = p.piece.clone();
        scores[i] = p.score;
        // The converter asks IsUnknown / IsControl / IsUnused / IsByte: a user-defined
        // piece stays normal.
        types[i] = match p.kind {
            PieceType::Unknown => TOKEN_UNKNOWN,
            PieceType::Control => TOKEN_CONTROL,
            PieceType::Unused => TOKEN_UNUSED,
            PieceType::Byte => TOKEN_BYTE,
            PieceType::Normal | PieceType::UserDefined => TOKEN_NORMAL,
        };
    }
    let mut put = |id: usize, text: String, ty: i32| {
        tokens[id] = text;
        scores[id] = -1000.0;
        types[id] = ty;
    };

    let at_path = dir.join("added_tokens.json");
    if is_present(&at_path) {
        let at = read_json(&at_path)?;
        let Value::Object(m) = &at else {
            return Err(CompressError::input(&at_path, "not a JSON object"));
        };
        for (text, id) in m {
            let id = id.as_u64().ok_or_else(|| {
                CompressError::input(&at_path, format!("token '{text}' has id {id}"))
            })?;
            if id < n as u64 {
                put(id as usize, text.clone(), TOKEN_USER_DEFINED);
            }
        }
    }

    let tc_path = dir.join("tokenizer_config.json");
    if is_present(&tc_path) {
        let tc = read_json(&tc_path)?;
        let tc = Obj::new(&tc_path, &tc, "tokenizer_config.json")?;
        if let Some(decoder) = tc.get("added_tokens_decoder") {
            let Value::Object(m) = decoder else {
                return Err(CompressError::input(
                    &tc_path,
                    "`added_tokens_decoder` is not an object",
                ));
            };
            for (key, data) in m {
                let bad = |why: &str| {
                    CompressError::input(
                        &tc_path,
                        format!("added_tokens_decoder entry '{key}': {why}"),
                    )
                };
                let id: u64 = key.parse().map_err(|_| bad("the key is not a token id"))?;
                let d = Obj::new(&tc_path, data, "an added_tokens_decoder entry")?;
                let content = d.str("content")?.ok_or_else(|| bad("no content"))?;
                let special = truthy(d.get("special"));
                if id >= n as u64 {
                    if flavour == SpmFlavour::Phi3 {
                        return Err(bad(&format!(
                            "id {id} does not fit config.json's vocab_size {n}"
                        )));
                    }
                    continue;
                }
                let (text, ty) = match flavour {
                    SpmFlavour::Base if special || looks_special(content) => {
                        (content.to_string(), TOKEN_CONTROL)
                    }
                    // User-defined spaces are pre-normalized.
                    SpmFlavour::Base => (content.replace('\u{2581}', " "), TOKEN_USER_DEFINED),
                    SpmFlavour::Phi3 if special => (content.to_string(), TOKEN_CONTROL),
                    SpmFlavour::Phi3 => (content.to_string(), TOKEN_USER_DEFINED),
                };
                put(id as usize, text, ty);
            }
        }
    }

    // tokenizer.json, when there is one, gives SpecialVocab its added tokens and
    // post-processor (and Phi-3 its added tokens as vocabulary).
    let tj_path = dir.join("tokenizer.json");
    let (tj, added) = if is_present(&tj_path) {
        let tj = read_json(&tj_path)?;
        Obj::new(&tj_path, &tj, "tokenizer.json")?;
        let added = parse_added(&tj_path, tj.get("added_tokens"))?;
        (tj, added)
    } else {
        (Value::Null, Vec::new())
    };
    if flavour == SpmFlavour::Phi3 {
        for t in &added {
            if t.id as usize >= n {
                return Err(CompressError::input(
                    &tj_path,
                    format!(
                        "added token id {} does not fit config.json's vocab_size {n}",
                        t.id
                    ),
                ));
            }
            let ty = if t.special {
                TOKEN_CONTROL
            } else {
                TOKEN_USER_DEFINED
            };
            put(t.id as usize, t.content.clone(), ty);
        }
    }

    let sv = special_vocab(dir, &tj, &added, Some(n as u32))?;
    let mut out: Vec<(String, MetaValue)> = vec![
        (
            "tokenizer.ggml.model".into(),
            MetaValue::String("llama".into()),
        ),
        (
            "tokenizer.ggml.pre".into(),
            MetaValue::String("default".into()),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            MetaValue::Array(MetaArray::String(tokens.into())),
        ),
        (
            "tokenizer.ggml.scores".into(),
            MetaValue::Array(MetaArray::F32(scores)),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            MetaValue::Array(MetaArray::I32(types)),
        ),
    ];
    push_special(&mut out, &sv);
    Ok(out)
}

/// Unicode normalizers change the text before byte-level BPE; llama.cpp ignores NFC (a
/// no-op on most text) and implements none of the others for BPE.
fn check_normalizer(path: &Path, n: Option<&Value>) -> Result<(), CompressError> {
    match n {
        None => Ok(()),
        Some(v) if v.get("type").and_then(Value::as_str) == Some("NFC") => Ok(()),
        Some(v) => Err(CompressError::input(
            path,
            format!("unsupported normalizer {v} (only none or NFC with byte-level BPE)"),
        )),
    }
}

fn parse_vocab(path: &Path, v: Option<&Value>) -> Result<HashMap<String, u32>, CompressError> {
    let Some(Value::Object(m)) = v else {
        return Err(CompressError::input(path, "`model.vocab` is not an object"));
    };
    let mut by_id: HashMap<u32, &str> = HashMap::with_capacity(m.len());
    m.iter()
        .map(|(k, id)| {
            let id = id
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| {
                    CompressError::input(path, format!("vocab entry '{k}' has id {id}"))
                })?;
            // Two tokens at one id: one of them would silently vanish from the list.
            if let Some(other) = by_id.insert(id, k) {
                return Err(CompressError::input(
                    path,
                    format!("vocab entries '{other}' and '{k}' have the same id {id}"),
                ));
            }
            Ok((k.clone(), id))
        })
        .collect()
}

fn parse_added(path: &Path, v: Option<&Value>) -> Result<Vec<AddedToken>, CompressError> {
    let list = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CompressError::input(path, "`added_tokens` is not a list")),
    };
    list.iter()
        .map(|t| {
            let o = Obj::new(path, t, "an added_tokens entry")?;
            Ok(AddedToken {
                id: o.req_u32("id")?,
                content: o
                    .str("content")?
                    .ok_or_else(|| CompressError::input(path, "an added token has no content"))?
                    .to_string(),
                special: o.bool("special")?.unwrap_or(false),
                normalized: o.bool("normalized")?.unwrap_or(true),
            })
        })
        .collect()
}

/// Merges as "left right" strings: both the old string form and the transformers ≥ 4.45
/// pair form, whose spaces inside a part become U+0120 as gguf-py writes them.
///
/// Each merge joins two tokens of the vocabulary into a third, as the tokenizers library
/// requires when it loads the file (and the runtime when it loads the GGUF).
fn parse_merges(
    path: &Path,
    v: Option<&Value>,
    vocab: &HashMap<String, u32>,
) -> Result<Vec<String>, CompressError> {
    let list = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CompressError::input(path, "`model.merges` is not a list")),
    };
    let bad = |i: usize, m: &Value| {
        CompressError::input(
            path,
            format!("merge {i} is {m}: neither \"a b\" nor [\"a\", \"b\"]"),
        )
    };
    let known = |i: usize, m: &Value, a: &str, b: &str| {
        for t in [a, b, &format!("{a}{b}")] {
            if !vocab.contains_key(t) {
                return Err(CompressError::input(
                    path,
                    format!("merge {i} ({m}) makes or uses '{t}', which is not in the vocabulary"),
                ));
            }
        }
        Ok(())
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| match m {
            Value::String(s) => match s.split_once(' ') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                    known(i, m, a, b)?;
                    Ok(s.clone())
                }
                _ => Err(bad(i, m)),
            },
            Value::Array(p) => match p.as_slice() {
                [Value::String(a), Value::String(b)] => {
                    known(i, m, a, b)?;
                    let enc = |s: &str| s.replace(' ', "\u{120}");
                    Ok(format!("{} {}", enc(a), enc(b)))
                }
                _ => Err(bad(i, m)),
            },
            _ => Err(bad(i, m)),
        })
        .collect()
}

/// The converter's `get_vocab_base`: one entry per id below `n`.
fn token_list(
    n: usize,
    vocab: &HashMap<String, u32>,
    added: &[AddedToken],
) -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<Option<String>> = vec![None; n];
    let mut types = vec![TOKEN_UNUSED; n];
    for (text, &id) in vocab {
        tokens[id as usize] = Some(text.clone());
        types[id as usize] = TOKEN_NORMAL;
    }
    for t in added {
        let i = t.id as usize;
        // transformers' decode(encode(token)) for tokens matched before normalization:
        // the byte-level decoder turns e.g. "Ġ" back into a space.
        let mut text = if t.normalized {
            t.content.clone()
        } else {
            byte_level_decode(&t.content)
        };
        if t.special || looks_special(&text) {
            types[i] = TOKEN_CONTROL;
        } else {
            text = text.replace('\u{2581}', " ");
            types[i] = TOKEN_USER_DEFINED;
        }
        tokens[i] = Some(text);
    }
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| format!("[PAD{i}]")))
        .collect();
    (tokens, types)
}

/// The converter's `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<\u{ff5c}") && t.ends_with("\u{ff5c}>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// HF's ByteLevel decoder on one token: when every character is one of the 256
/// byte-level characters, the bytes they stand for (invalid UTF-8 replaced); otherwise
/// the token unchanged.
fn byte_level_decode(token: &str) -> String {
    let bytes: Option<Vec<u8>> = token.chars().map(byte_of_char).collect();
    match bytes {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => token.to_string(),
    }
}

/// Inverse of GPT-2's byte → character table: printable Latin-1 bytes stand for
/// themselves, the other 68 bytes for U+0100.. in byte order.
fn byte_of_char(c: char) -> Option<u8> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let cp = c as u32;
    if printable(cp) {
        return Some(cp as u8);
    }
    let k = cp.checked_sub(0x100)?;
    (0u32..256)
        .filter(|&b| !printable(b))
        .nth(k as usize)
        .map(|b| b as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_chars() {
        assert_eq!(byte_of_char('Ġ'), Some(b' '));
        assert_eq!(byte_of_char('Ċ'), Some(b'\n'));
        assert_eq!(byte_of_char('a'), Some(b'a'));
        assert_eq!(byte_of_char(' '), None);
        assert_eq!(byte_level_decode("ĠĠx"), "  x");
        // One character outside the table keeps the whole token as it is.
        assert_eq!(byte_level_decode("<|a b|>"), "<|a b|>");
    }

    #[test]
    fn merges_both_forms() {
        let vocab: HashMap<String, u32> = ["Ġ", "t", "Ġt", "a b", "c", "a bc"]
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), i as u32))
            .collect();
        let p = Path::new("t.json");
        let v: Value = serde_json::json!(["Ġ t", ["a b", "c"]]);
        let m = parse_merges(p, Some(&v), &vocab).unwrap();
        assert_eq!(m, ["Ġ t", "a\u{120}b c"]);
        for bad in [
            serde_json::json!([["a"]]),
            serde_json::json!(["Ġt"]),
            serde_json::json!(["Ġ t t"]),
        ] {
            let e = parse_merges(p, Some(&bad), &vocab).unwrap_err();
            assert!(e.to_string().starts_with("t.json: merge 0"), "{e}");
        }
        // Parts and result must be tokens.
        let e = parse_merges(p, Some(&serde_json::json!(["t Ġ"])), &vocab).unwrap_err();
        assert!(e.to_string().contains("'tĠ'"), "{e}");
    }

    #[test]
    fn token_list_pads_and_types() {
        let vocab: HashMap<String, u32> = [("a".to_string(), 0), ("b".to_string(), 1)].into();
        let added = vec![
            AddedToken {
                id: 2,
                content: "<|x|>".into(),
                special: false,
                normalized: false,
            },
            AddedToken {
                id: 3,
                content: "▁hi".into(),
                special: false,
                normalized: true,
            },
        ];
        let (t, ty) = token_list(6, &vocab, &added);
        assert_eq!(t, ["a", "b", "<|x|>", " hi", "[PAD4]", "[PAD5]"]);
        assert_eq!(ty, [1, 1, 3, 4, 5, 5]);
    }
}
