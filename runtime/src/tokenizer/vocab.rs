//! Token texts, types and scores, and the text -> id map.
//!
//! Built once per load, so it is laid out to build fast: all texts back to back in one
//! string (no allocation per token) and an open-addressing table of ids hashed by text
//! (no key copies; the texts it compares against sit together in cache).

use std::hash::Hasher;

use crate::fxhash::FxHasher;

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

/// A slot of the id table that holds no id.
const EMPTY: u32 = u32::MAX;

pub(crate) struct Vocab {
    /// Every token's text, back to back.
    texts: String,
    /// Token `i`'s text is `texts[starts[i]..starts[i + 1]]` (one more entry than tokens).
    starts: Vec<usize>,
    types: Vec<TokenType>,
    scores: Vec<f32>,
    /// Ids by text hash, linear probing; a power of two at most half full.
    slots: Vec<u32>,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocab").field("len", &self.len()).finish()
    }
}

/// Hash of a text for the open-addressing tables (token ids here, merge ranks in BPE).
pub(crate) fn hash(text: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(text);
    h.write_usize(text.len());
    h.finish()
}

impl Vocab {
    /// `tokens` are the texts in id order; `types` and `scores` have one entry each.
    pub(crate) fn new<'a>(
        tokens: impl ExactSizeIterator<Item = &'a str>,
        types: Vec<TokenType>,
        scores: Vec<f32>,
    ) -> Vocab {
        let n = tokens.len();
        let mut texts = String::with_capacity(n * 8);
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        for (i, t) in tokens.enumerate() {
            if t.is_empty() {
                // An empty token would match everywhere as a special token; llama.cpp
                // renames it.
                use std::fmt::Write;
                let _ = write!(texts, "[EMPTY_{i}]");
            } else {
                texts.push_str(t);
            }
            starts.push(texts.len());
        }
        let mut vocab = Vocab {
            texts,
            starts,
            types,
            scores,
            slots: vec![EMPTY; (2 * n).next_power_of_two().max(2)],
        };
        for id in 0..n as u32 {
            let slot = vocab.find(vocab.text_of(id));
            // A repeated text maps to its last id, as in llama.cpp.
            vocab.slots[slot] = id;
        }
        vocab
    }

    /// First slot to probe for a text of hash `h`.
    fn home(&self, h: u64) -> usize {
        // The multiply mixes into the high bits best, so the index comes from those.
        (h >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The slot holding `text`'s id, or the empty slot where it would go.
    fn find(&self, text: &str) -> usize {
        self.find_hashed(text, hash(text.as_bytes()))
    }

    fn find_hashed(&self, text: &str, h: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = self.home(h);
        loop {
            let id = self.slots[at];
            if id == EMPTY || self.text_of(id) == text {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// Text of a valid id.
    fn text_of(&self, id: u32) -> &str {
        let i = id as usize;
        &self.texts[self.starts[i]..self.starts[i + 1]]
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub(crate) fn id(&self, text: &str) -> Option<u32> {
        let id = self.slots[self.find(text)];
        (id != EMPTY).then_some(id)
    }

    pub(crate) fn text(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.len()).then(|| self.text_of(id))
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
