//! Pre-tokenizers of byte-level BPE vocabularies, chosen by `tokenizer.ggml.pre`.
//!
//! Each is a list of regexes applied one after the other, as llama.cpp does: every regex
//! splits each piece left by the previous ones into its matches and the text between
//! them (HF tokenizers' `Split(behavior="isolated")`). The regexes are the ones in the
//! models' tokenizer.json files; the case-insensitive contractions are spelled out with
//! character classes as llama.cpp does, so Unicode case folding (e.g. 'ſ') plays no part.

use fancy_regex::Regex;

use super::TokenizerError;

/// GPT-2's regex (HF ByteLevel's, with its trailing `\s+`, which only picks up whitespace
/// the other branches leave behind and so gives the same pieces as llama.cpp's form).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

const LLAMA3: &str = concat!(
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// Qwen2's: Llama 3's with single digits.
const QWEN2: &str = concat!(
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// Every digit on its own (HF `Digits(individual_digits=True)`).
const DIGIT: &str = r"\p{N}";

/// llama.cpp's "default" list: punctuation runs, GPT-2, digit runs, three ASCII digits.
const DEFAULT: [&str; 4] = [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];

/// `tokenizer.ggml.pre` names understood, grouped by the regexes they use.
const NAMES_DEFAULT: &[&str] = &["default"];
const NAMES_GPT2: &[&str] = &[
    "gpt2",
    "gpt-2",
    "phi-2",
    "roberta-bpe",
    "mpt",
    "olmo",
    "jais",
];
const NAMES_LLAMA3: &[&str] = &["llama3", "llama-v3", "llama-bpe", "falcon3"];
const NAMES_LLAMA3_MERGING: &[&str] = &["dbrx", "smaug-bpe"];
const NAMES_QWEN2: &[&str] = &["qwen2", "stablelm2", "megrez"];
const NAMES_SMOLLM: &[&str] = &[
    "smollm",
    "starcoder",
    "refact",
    "command-r",
    "codeshell",
    "exaone",
    "minerva-7b",
];

/// All supported `tokenizer.ggml.pre` names, comma separated.
pub fn supported_names() -> String {
    [
        NAMES_DEFAULT,
        NAMES_GPT2,
        NAMES_LLAMA3,
        NAMES_LLAMA3_MERGING,
        NAMES_QWEN2,
        NAMES_SMOLLM,
    ]
    .concat()
    .join(", ")
}

/// Whether `pre` names a Llama 3 pre-tokenizer (llama.cpp adds BOS for those by default).
pub(crate) fn llama3_family(pre: Option<&str>) -> bool {
    pre.is_some_and(|p| NAMES_LLAMA3.contains(&p))
}

#[derive(Debug)]
pub(crate) struct PreTokenizer {
    regexes: Vec<Regex>,
    /// Llama 3 vocabularies take a whole piece as one token when it is in the vocabulary,
    /// before any merge (tokenizer.json `ignore_merges`).
    pub ignore_merges: bool,
}

impl PreTokenizer {
    /// The pre-tokenizer for `name`; a missing name means llama.cpp's "default".
    pub(crate) fn for_name(name: Option<&str>) -> Result<PreTokenizer, TokenizerError> {
        let n = name.unwrap_or("default");
        let (patterns, ignore_merges): (&[&str], bool) = if NAMES_DEFAULT.contains(&n) {
            (&DEFAULT, false)
        } else if NAMES_GPT2.contains(&n) {
            (&[GPT2], false)
        } else if NAMES_LLAMA3.contains(&n) {
            (&[LLAMA3], true)
        } else if NAMES_LLAMA3_MERGING.contains(&n) {
            (&[LLAMA3], false)
        } else if NAMES_QWEN2.contains(&n) {
            (&[QWEN2], false)
        } else if NAMES_SMOLLM.contains(&n) {
            (&[DIGIT, GPT2], false)
        } else {
            return Err(TokenizerError::UnknownPre {
                name: n.to_string(),
                supported: supported_names(),
            });
        };
        let regexes = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| TokenizerError::Regex(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PreTokenizer {
            regexes,
            ignore_merges,
        })
    }

    /// Splits `text` into the pieces BPE merges within.
    pub(crate) fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut pieces = vec![text];
        for re in &self.regexes {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for piece in pieces {
                split_isolated(re, piece, &mut next);
            }
            pieces = next;
        }
        pieces.retain(|p| !p.is_empty());
        pieces
    }
}

/// Pushes `text`'s matches of `re` and the gaps between them, in order.
fn split_isolated<'a>(re: &Regex, text: &'a str, out: &mut Vec<&'a str>) {
    let mut last = 0;
    for m in re.find_iter(text) {
        match m {
            Ok(m) => {
                if m.start() > last {
                    out.push(&text[last..m.start()]);
                }
                if m.end() > m.start() {
                    out.push(m.as_str());
                }
                last = m.end();
            }
            // Only the backtracking limit can fail here (pathological input): keep the
            // rest of the piece whole rather than lose text.
            Err(_) => break,
        }
    }
    if last < text.len() {
        out.push(&text[last..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str, text: &str) -> Vec<String> {
        PreTokenizer::for_name(Some(name))
            .unwrap()
            .split(text)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn gpt2_trailing_whitespace_goes_with_next_word() {
        assert_eq!(split("gpt2", "a   b"), ["a", "  ", " b"]);
        assert_eq!(split("gpt2", "it's 12"), ["it", "'s", " 12"]);
    }

    #[test]
    fn llama3_groups_three_digits() {
        assert_eq!(split("llama-bpe", "12345"), ["123", "45"]);
        assert_eq!(split("qwen2", "123"), ["1", "2", "3"]);
    }

    #[test]
    fn smollm_splits_digits_first() {
        assert_eq!(split("smollm", "ab 12"), ["ab", " ", "1", "2"]);
    }

    #[test]
    fn unknown_name_lists_supported() {
        let e = PreTokenizer::for_name(Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nope") && e.contains("llama-bpe") && e.contains("smollm"),
            "{e}"
        );
    }
}
