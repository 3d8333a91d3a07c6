//! Token texts, types and scores, and the text -> id map.
//!
//! Built once per load, so it is laid out to build fast: the texts stay back to back in
//! the buffer the GGUF reader read them into (shared, not copied) and ids are found
//! through a [`TextIndex`] over them.

use crate::gguf::StrArray;

use super::text_index::TextIndex;

/// `tokenizer.ggml.token_type` values (gguf-py's `TokenType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    Undefined,
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    pub(crate) fn from_i32(v: i32) -> TokenType {
        match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// Control and unknown tokens only print when asked (llama.cpp's `special`).
    pub(crate) fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::Unknown)
    }
}

pub(crate) struct Vocab {
    /// Every token's text, in id order.
    texts: StrArray,
    types: Vec<TokenType>,
    scores: Vec<f32>,
    ids: TextIndex,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocab").field("len", &self.len()).finish()
    }
}

impl Vocab {
    /// `tokens` are the texts in id order (at most
    /// [`MAX_TEXTS`](super::text_index::MAX_TEXTS)); `types` and
    /// `scores` have one entry each.
    pub(crate) fn new(tokens: &StrArray, types: Vec<TokenType>, scores: Vec<f32>) -> Vocab {
        let texts = if tokens.iter().any(str::is_empty) {
            // An empty token would match everywhere as a special token; llama.cpp
            // renames it.
            let mut texts = StrArray::with_capacity(tokens.len(), tokens.text_len());
            for (i, t) in tokens.iter().enumerate() {
                match t {
                    "" => texts.push(&format!("[EMPTY_{i}]")),
                    t => texts.push(t),
                }
            }
            texts
        } else {
            tokens.clone()
        };
        // A repeated text maps to its last id, as in llama.cpp: insert last first.
        let ids = TextIndex::new(&texts, (0..texts.len() as u32).rev());
        Vocab {
            texts,
            types,
            scores,
            ids,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }

    pub(crate) fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(&self.texts, text)
    }

    pub(crate) fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize)
    }

    pub(crate) fn ty(&self, id: u32) -> TokenType {
        self.types
            .get(id as usize)
            .copied()
            .unwrap_or(TokenType::Undefined)
    }

    pub(crate) fn score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(0.0)
    }
}
