//! Token texts, types and scores, and the text -> id map.

use crate::fxhash::{map_with_capacity, FxHashMap};

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

#[derive(Debug)]
pub(crate) struct Vocab {
    pub tokens: Vec<String>,
    pub types: Vec<TokenType>,
    pub scores: Vec<f32>,
    pub ids: FxHashMap<String, u32>,
}

impl Vocab {
    pub(crate) fn new(mut tokens: Vec<String>, types: Vec<TokenType>, scores: Vec<f32>) -> Vocab {
        let mut ids = map_with_capacity(tokens.len());
        for (i, t) in tokens.iter_mut().enumerate() {
            // An empty token would match everywhere as a special token; llama.cpp renames it.
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
            // A repeated text maps to its last id, as in llama.cpp.
            ids.insert(t.clone(), i as u32);
        }
        Vocab {
            tokens,
            types,
            scores,
            ids,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(crate) fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub(crate) fn text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
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
