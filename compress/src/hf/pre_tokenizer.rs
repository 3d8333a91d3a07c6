//! `tokenizer.ggml.pre` from tokenizer.json's own `pre_tokenizer` definition.
//!
//! llama.cpp's converter recognizes pre-tokenizers by hashing what a tokenizer makes of a
//! test string; here the definition is read instead. It is reduced to the list of regexes
//! applied in order (ByteLevel with `use_regex` contributes GPT-2's, `Digits` its digit
//! rule, `Split(Isolated)` its pattern) and that list must be exactly one that llama.cpp
//! (and edgelm's runtime) implements under a name.

use std::path::Path;

use serde_json::Value;

use crate::CompressError;

/// HF ByteLevel's regex (GPT-2's, with a trailing `\s+`).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// The same without the trailing `\s+`, as llama.cpp spells it (same pieces).
const GPT2_SHORT: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// `Digits(individual_digits=true)`.
const DIGIT: &str = r"\p{N}";
/// `Digits(individual_digits=false)`.
const DIGITS: &str = r"\p{N}+";
/// Llama 3's Split pattern, as its tokenizer.json has it.
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with single digits.
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's "default" BPE pre-tokenizer.
const DEFAULT_PUNCT: &str = r"[\p{P}\$\+<=>\^~\|]+";
const DEFAULT_3DIGITS: &str = r"[0-9][0-9][0-9]";

/// The `tokenizer.ggml.pre` name for a byte-level BPE tokenizer.json (`root`), whose
/// model has `ignore_merges` as given. `path` is named in errors.
pub(crate) fn pre_tokenizer_name(
    path: &Path,
    root: &Value,
    ignore_merges: bool,
) -> Result<&'static str, CompressError> {
    let def = root.get("pre_tokenizer").unwrap_or(&Value::Null);
    let unsupported = |why: &str| {
        CompressError::input(
            path,
            format!("unsupported pre_tokenizer {def} ({why}); supported: ByteLevel(use_regex=true) [gpt2], Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)] [smollm], Sequence[Split(Llama-3 regex), ByteLevel(use_regex=false)] [llama-bpe], Sequence[Split(Qwen2 regex), ByteLevel(use_regex=false)] [qwen2]"),
        )
    };
    let steps: Vec<&Value> = match def.get("type").and_then(Value::as_str) {
        Some("Sequence") => match def.get("pretokenizers") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => return Err(unsupported("a Sequence without a pretokenizers list")),
        },
        Some(_) => vec![def],
        None => return Err(unsupported("byte-level BPE needs a pre-tokenizer")),
    };
    let mut regexes: Vec<&str> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        match step.get("type").and_then(Value::as_str) {
            Some("ByteLevel") => {
                if !last {
                    return Err(unsupported("ByteLevel must be the last step"));
                }
                // tokenizers' defaults for fields left out.
                if flag(step, "add_prefix_space", true) {
                    return Err(unsupported(
                        "ByteLevel add_prefix_space=true is not supported",
                    ));
                }
                if flag(step, "use_regex", true) {
                    regexes.push(GPT2);
                }
            }
            Some("Digits") => regexes.push(if flag(step, "individual_digits", false) {
                DIGIT
            } else {
                DIGITS
            }),
            Some("Split") => {
                let behavior = step.get("behavior").and_then(Value::as_str);
                if behavior != Some("Isolated") || flag(step, "invert", false) {
                    return Err(unsupported(
                        "only Split with behavior Isolated, not inverted",
                    ));
                }
                match step
                    .get("pattern")
                    .and_then(|p| p.get("Regex"))
                    .and_then(Value::as_str)
                {
                    Some(r) => regexes.push(r),
                    None => return Err(unsupported("Split needs a Regex pattern")),
                }
            }
            _ => return Err(unsupported("unknown step")),
        }
        if last && step.get("type").and_then(Value::as_str) != Some("ByteLevel") {
            return Err(unsupported("the last step must be ByteLevel"));
        }
    }
    let regexes: Vec<&str> = regexes
        .into_iter()
        .map(|r| if r == GPT2_SHORT { GPT2 } else { r })
        .collect();
    let name = match regexes.as_slice() {
        [r] if *r == GPT2 => "gpt2",
        [d, r] if *d == DIGIT && *r == GPT2 => "smollm",
        [r] if *r == LLAMA3 && ignore_merges => "llama-bpe",
        // Llama 3's split with ordinary merging is llama.cpp's "smaug-bpe".
        [r] if *r == LLAMA3 => "smaug-bpe",
        [r] if *r == QWEN2 => "qwen2",
        [p, g, d, t]
            if *p == DEFAULT_PUNCT && *g == GPT2 && *d == DIGITS && *t == DEFAULT_3DIGITS =>
        {
            "default"
        }
        _ => return Err(unsupported("no llama.cpp pre-tokenizer splits this way")),
    };
    if ignore_merges && name != "llama-bpe" {
        return Err(unsupported(
            "model.ignore_merges=true is only supported with the Llama-3 split",
        ));
    }
    Ok(name)
}

fn flag(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(pre: Value, ignore_merges: bool) -> Result<&'static str, CompressError> {
        pre_tokenizer_name(
            Path::new("tokenizer.json"),
            &json!({ "pre_tokenizer": pre }),
            ignore_merges,
        )
    }

    fn byte_level(use_regex: bool) -> Value {
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
    }

    fn split(re: &str) -> Value {
        json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false})
    }

    #[test]
    fn known_definitions() {
        assert_eq!(name(byte_level(true), false).unwrap(), "gpt2");
        let smollm = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]});
        assert_eq!(name(smollm, false).unwrap(), "smollm");
        let llama3 =
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3), byte_level(false)]});
        assert_eq!(name(llama3.clone(), true).unwrap(), "llama-bpe");
        assert_eq!(name(llama3, false).unwrap(), "smaug-bpe");
        let qwen2 = json!({"type": "Sequence", "pretokenizers": [split(QWEN2), byte_level(false)]});
        assert_eq!(name(qwen2, false).unwrap(), "qwen2");
        let gpt2_split =
            json!({"type": "Sequence", "pretokenizers": [split(GPT2_SHORT), byte_level(false)]});
        assert_eq!(name(gpt2_split, false).unwrap(), "gpt2");
    }

    #[test]
    fn others_are_errors_naming_the_file_and_definition() {
        let cases = [
            Value::Null,
            json!({"type": "Whitespace"}),
            json!({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}),
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": false}, byte_level(true)]}),
            json!({"type": "Sequence", "pretokenizers": [split(r"\s+"), byte_level(false)]}),
            json!({"type": "Sequence", "pretokenizers": [byte_level(true), split(r"\s+")]}),
        ];
        for c in cases {
            let e = name(c.clone(), false).unwrap_err().to_string();
            assert!(
                e.starts_with("tokenizer.json: unsupported pre_tokenizer"),
                "{e}"
            );
            assert!(e.contains(&c.to_string()), "{e}");
        }
        // ignore_merges outside Llama 3.
        assert!(name(byte_level(true), true).is_err());
    }
}
