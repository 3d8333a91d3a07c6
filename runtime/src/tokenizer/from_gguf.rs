//! `Tokenizer::from_gguf`: the `tokenizer.*` metadata of a GGUF file, with llama.cpp's
//! defaults where a key is absent.
//!
//! Not compiled until the GGUF reader lands: then declare `mod from_gguf;` in
//! tokenizer/mod.rs (type-checked against the reader's announced API with a stand-in).

use super::{SpecRef, Tokenizer, TokenizerError, TokenizerSpec};
use crate::gguf::{GgufError, GgufFile};

const MODEL: &str = "tokenizer.ggml.model";
const PRE: &str = "tokenizer.ggml.pre";
const TOKENS: &str = "tokenizer.ggml.tokens";
const SCORES: &str = "tokenizer.ggml.scores";
const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const MERGES: &str = "tokenizer.ggml.merges";
const BOS: &str = "tokenizer.ggml.bos_token_id";
const EOS: &str = "tokenizer.ggml.eos_token_id";
const EOT: &str = "tokenizer.ggml.eot_token_id";
const EOM: &str = "tokenizer.ggml.eom_token_id";
const UNK: &str = "tokenizer.ggml.unknown_token_id";
const PAD: &str = "tokenizer.ggml.padding_token_id";
const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
const CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// Attaches the key to a reader error.
fn at<T>(key: &'static str, r: Result<T, GgufError>) -> Result<T, TokenizerError> {
    r.map_err(|e| TokenizerError::Metadata {
        key,
        source: Box::new(e),
    })
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes.
    pub fn from_gguf(f: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        let model = at(MODEL, f.get_str(MODEL))?.ok_or(TokenizerError::MissingKey(MODEL))?;
        let pre = at(PRE, f.get_str(PRE))?;
        // Borrowed, not copied: the reader already holds every token and merge.
        let tokens =
            at(TOKENS, f.get_str_array(TOKENS))?.ok_or(TokenizerError::MissingKey(TOKENS))?;
        let scores = at(SCORES, f.get_f32_array(SCORES))?;
        let token_types = at(TOKEN_TYPE, f.get_i32_array(TOKEN_TYPE))?;
        let merges = at(MERGES, f.get_str_array(MERGES))?;
        let id = |key: &'static str| at(key, f.get_u32(key));
        let flag = |key: &'static str| at(key, f.get_bool(key));

        // llama.cpp's defaults: SentencePiece vocabularies have <unk>=0, <s>=1, </s>=2, add
        // BOS and a dummy space prefix; Llama 3 BPE vocabularies add BOS.
        let spm = model == "llama";
        let spm_default = |v: u32| spm.then_some(v);
        Tokenizer::build(SpecRef {
            bos: id(BOS)?.or(spm_default(1)),
            eos: id(EOS)?.or(spm_default(2)),
            unk: id(UNK)?.or(spm_default(0)),
            eot: id(EOT)?,
            eom: id(EOM)?,
            pad: id(PAD)?,
            add_bos: flag(ADD_BOS)?.unwrap_or_else(|| TokenizerSpec::default_add_bos(model, pre)),
            add_eos: flag(ADD_EOS)?.unwrap_or(false),
            add_space_prefix: flag(ADD_SPACE_PREFIX)?.unwrap_or(spm),
            chat_template: at(CHAT_TEMPLATE, f.get_str(CHAT_TEMPLATE))?,
            model,
            pre,
            tokens,
            scores,
            token_types,
            merges,
        })
    }
}
