//! Tokenizers built from GGUF metadata, with llama.cpp's semantics.
//!
//! Two models: `gpt2` (byte-level BPE with a pre-tokenizer named by `tokenizer.ggml.pre`)
//! and `llama` (SentencePiece BPE with byte fallback). Special tokens are found in the
//! text first; decoding gives raw bytes per token so a stream can hold back partial UTF-8.

mod bpe;
mod byte_level;
mod from_gguf;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod symbols;
mod text_index;
mod vocab;

use std::collections::BTreeSet;

use crate::gguf::StrArray;
use bpe::Bpe;
use pretokenize::PreTokenizer;
use special::{Fragment, SpecialMatcher, EOG_TEXTS};
use spm::Spm;
use vocab::{TokenType, Vocab};

pub use pretokenize::supported_names as supported_pre_tokenizers;
pub use stream::TextStream;

/// Everything a tokenizer is built from: the `tokenizer.*` GGUF metadata, already read.
#[derive(Debug, Clone, Default)]
pub struct TokenizerSpec {
    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece BPE).
    pub model: String,
    /// Pre-tokenizer name for `gpt2`; `None` means llama.cpp's "default".
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub scores: Option<Vec<f32>>,
    /// gguf `TokenType` per token (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte); `None` means all normal.
    pub token_types: Option<Vec<i32>>,
    /// "left right" pairs, best first; required for `gpt2`.
    pub merges: Option<Vec<String>>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    /// SentencePiece's dummy prefix: a space before the text (and after each special token).
    pub add_space_prefix: bool,
    pub chat_template: Option<String>,
}

impl TokenizerSpec {
    /// llama.cpp's `add_bos` when the metadata does not say: on for SentencePiece
    /// (`llama`) vocabularies and Llama 3 pre-tokenizers.
    pub fn default_add_bos(model: &str, pre: Option<&str>) -> bool {
        model == "llama" || (model == "gpt2" && pretokenize::llama3_family(pre))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("unknown tokenizer model '{0}' (supported: gpt2, llama)")]
    UnknownModel(String),
    #[error("unknown pre-tokenizer '{name}' (supported: {supported})")]
    UnknownPre { name: String, supported: String },
    #[error("the vocabulary is empty")]
    EmptyVocab,
    #[error("{what} has {got} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("tokenizer model 'gpt2' needs merges (tokenizer.ggml.merges)")]
    MissingMerges,
    #[error("merge {index} ('{text}') is not two tokens separated by a space")]
    BadMerge { index: usize, text: String },
    #[error("tokenizer.ggml.scores: the score of token {index} is not a finite number")]
    BadScore { index: usize },
    #[error("{n} {what} are more than this tokenizer can index")]
    TooMany { what: &'static str, n: usize },
    #[error("metadata key '{0}' is missing")]
    MissingKey(&'static str),
    #[error("metadata key '{key}': {source}")]
    Metadata {
        key: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("pre-tokenizer regex does not compile: {0}")]
    Regex(String),
}

#[derive(Debug)]
enum Model {
    Bpe { bpe: Bpe, pre: PreTokenizer },
    Spm(Spm),
}

#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    special: SpecialMatcher,
    model_name: String,
    pre_name: Option<String>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    eog: BTreeSet<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    chat_template: Option<String>,
}

/// A [`TokenizerSpec`] by reference, so a tokenizer can be built straight from the
/// strings a GGUF reader already holds without copying them first.
pub(crate) struct SpecRef<'a> {
    pub model: &'a str,
    pub pre: Option<&'a str>,
    pub tokens: &'a StrArray,
    pub scores: Option<&'a [f32]>,
    pub token_types: Option<&'a [i32]>,
    pub merges: Option<&'a StrArray>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub chat_template: Option<&'a str>,
}

impl Tokenizer {
    pub fn from_spec(spec: TokenizerSpec) -> Result<Tokenizer, TokenizerError> {
        let tokens = StrArray::from(spec.tokens);
        let merges = spec.merges.map(StrArray::from);
        Tokenizer::build(SpecRef {
            model: &spec.model,
            pre: spec.pre.as_deref(),
            tokens: &tokens,
            scores: spec.scores.as_deref(),
            token_types: spec.token_types.as_deref(),
            merges: merges.as_ref(),
            bos: spec.bos,
            eos: spec.eos,
            eot: spec.eot,
            eom: spec.eom,
            unk: spec.unk,
            pad: spec.pad,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            add_space_prefix: spec.add_space_prefix,
            chat_template: spec.chat_template.as_deref(),
        })
    }

    pub(crate) fn build(spec: SpecRef<'_>) -> Result<Tokenizer, TokenizerError> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > text_index::MAX_TEXTS {
            return Err(TokenizerError::TooMany { what: "tokens", n });
        }
        let check = |what: &'static str, got: Option<usize>| match got {
            Some(got) if got != n => Err(TokenizerError::LengthMismatch {
                what,
                expected: n,
                got,
            }),
            _ => Ok(()),
        };
        check("tokenizer.ggml.scores", spec.scores.map(<[f32]>::len))?;
        check(
            "tokenizer.ggml.token_type",
            spec.token_types.map(<[i32]>::len),
        )?;
        // SentencePiece ranks pieces by score: a NaN makes that order meaningless.
        if let Some(i) = spec
            .scores
            .and_then(|s| s.iter().position(|v| !v.is_finite()))
        {
            return Err(TokenizerError::BadScore { index: i });
        }
        let mut types: Vec<TokenType> = match spec.token_types {
            Some(t) => t.iter().map(|&v| TokenType::from_i32(v)).collect(),
            None => vec![TokenType::Normal; n],
        };
        // Ids past the vocabulary are dropped, as llama.cpp ignores them.
        let valid = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let (bos, eos, eot, eom, unk, pad) = (
            valid(spec.bos),
            valid(spec.eos),
            valid(spec.eot),
            valid(spec.eom),
            valid(spec.unk),
            valid(spec.pad),
        );

        // llama.cpp ends generation on these texts whatever the metadata says, and makes
        // them control tokens so they neither print nor get split.
        let mut eog: BTreeSet<u32> = [eos, eot, eom].into_iter().flatten().collect();
        for (i, t) in spec.tokens.iter().enumerate() {
            // Every EOG text starts with '<': most tokens are ruled out by one byte.
            if t.starts_with('<') && EOG_TEXTS.contains(&t) {
                eog.insert(i as u32);
                types[i] = TokenType::Control;
            }
        }

        let scores = spec.scores.map_or_else(|| vec![0.0; n], <[f32]>::to_vec);
        let vocab = Vocab::new(spec.tokens, types, scores);
        let model = match spec.model {
            "gpt2" => {
                let merges = spec.merges.ok_or(TokenizerError::MissingMerges)?;
                let pre = PreTokenizer::for_name(spec.pre)?;
                Model::Bpe {
                    bpe: Bpe::new(merges)?,
                    pre,
                }
            }
            "llama" => Model::Spm(Spm::new(&vocab, unk)),
            other => return Err(TokenizerError::UnknownModel(other.to_string())),
        };
        let special = SpecialMatcher::new(&vocab);
        Ok(Tokenizer {
            vocab,
            model,
            special,
            model_name: spec.model.to_string(),
            pre_name: spec.pre.map(str::to_string),
            bos,
            eos,
            eot,
            eom,
            unk,
            pad,
            eog,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            add_space_prefix: spec.add_space_prefix,
            chat_template: spec.chat_template.map(str::to_string),
        })
    }

    /// Token ids of `text`. `add_special` adds BOS/EOS as the metadata asks;
    /// `parse_special` lets control tokens written in the text (`<|im_start|>`) be matched.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let frags = self.special.partition(&self.vocab, text, parse_special);
        match &self.model {
            Model::Bpe { bpe, pre } => {
                for f in frags {
                    match f {
                        Fragment::Token(id) => out.push(id),
                        Fragment::Text(t) => {
                            for piece in pre.split(t) {
                                let word = byte_level::encode(piece);
                                bpe.encode_word(&word, &self.vocab, pre.ignore_merges, &mut out);
                            }
                        }
                    }
                }
            }
            Model::Spm(spm) => {
                // llama.cpp puts the dummy space before the first text and after each
                // special token.
                let mut prev_special = true;
                for f in frags {
                    match f {
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                        Fragment::Text(t) => {
                            let mut s = String::with_capacity(t.len() + 4);
                            if self.add_space_prefix && prev_special {
                                s.push(' ');
                            }
                            s.push_str(t);
                            let s = s.replace(' ', spm::SPACE);
                            spm.encode(&s, &self.vocab, &mut out);
                            prev_special = false;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// Raw bytes of one token: control and unknown tokens give nothing (see
    /// [`Tokenizer::token_to_piece`] to print them). May be part of a UTF-8 sequence.
    pub fn decode_token(&self, id: u32) -> Vec<u8> {
        self.token_to_piece(id, false)
    }

    /// Raw bytes of one token; `special` also prints control and unknown tokens' text.
    /// Ids outside the vocabulary give nothing.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(text) = self.vocab.text(id) else {
            return out;
        };
        let ty = self.vocab.ty(id);
        if ty.is_special() {
            if special {
                out.extend_from_slice(text.as_bytes());
            }
            return out;
        }
        match (&self.model, ty) {
            (_, TokenType::UserDefined) => out.extend_from_slice(text.as_bytes()),
            (Model::Bpe { .. }, TokenType::Normal) => byte_level::decode_into(text, &mut out),
            (Model::Spm(_), TokenType::Normal) => {
                out.extend_from_slice(text.replace(spm::SPACE, " ").as_bytes())
            }
            (Model::Spm(_), TokenType::Byte) => out.extend(parse_byte_token(text)),
            // Unused, undefined, and byte tokens in a BPE vocabulary print nothing.
            _ => {}
        }
        out
    }

    /// Text of `ids`, invalid UTF-8 replaced. With a dummy space prefix, the first
    /// printed token loses one leading space, as SentencePiece does.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        let mut strip = self.add_space_prefix;
        for &id in ids {
            let piece = self.decode_token(id);
            if piece.is_empty() {
                continue;
            }
            let skip = usize::from(strip && piece[0] == b' ');
            bytes.extend_from_slice(&piece[skip..]);
            strip = false;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The vocabulary text of a token, as stored (byte-level or with U+2581).
    pub fn token_str(&self, id: u32) -> Option<&str> {
        self.vocab.text(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    pub fn eom(&self) -> Option<u32> {
        self.eom
    }

    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether `id` ends generation: EOS, EOT, EOM, or a token whose text llama.cpp
    /// treats as an end (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ...).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    pub fn pre_name(&self) -> Option<&str> {
        self.pre_name.as_deref()
    }
}

/// The byte of a `<0xXX>` token.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests;
