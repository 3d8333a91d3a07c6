//! Special tokens: finding them in text (llama.cpp's `tokenizer_st_partition`) and the
//! end-of-generation set.

use super::vocab::{TokenType, Vocab};

/// Texts llama.cpp treats as end of generation whatever the metadata says.
pub(crate) const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
];

/// A piece of input: text still to tokenize, or a special token found in it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

#[derive(Debug)]
pub(crate) struct SpecialMatcher {
    /// Control, user-defined and unknown tokens, longest text first so a token is never
    /// split by a shorter one inside it.
    ids: Vec<u32>,
}

impl SpecialMatcher {
    pub(crate) fn new(vocab: &Vocab) -> SpecialMatcher {
        let mut ids: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&id| {
                matches!(
                    vocab.ty(id),
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown
                )
            })
            .collect();
        ids.sort_by_key(|&id| std::cmp::Reverse(vocab.text(id).map_or(0, str::len)));
        SpecialMatcher { ids }
    }

    /// Splits `text` around special tokens. Control and unknown tokens are only matched
    /// with `parse_special`; user-defined ones always are (as HF tokenizers do).
    pub(crate) fn partition<'a>(
        &self,
        vocab: &Vocab,
        text: &'a str,
        parse_special: bool,
    ) -> Vec<Fragment<'a>> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Fragment::Text(text));
        for &id in &self.ids {
            if !parse_special && vocab.ty(id).is_special() {
                continue;
            }
            let needle = vocab.text(id).unwrap_or_default();
            if needle.is_empty() {
                continue;
            }
            if !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Text(mut t) => {
                        while let Some(at) = t.find(needle) {
                            if at > 0 {
                                next.push(Fragment::Text(&t[..at]));
                            }
                            next.push(Fragment::Token(id));
                            t = &t[at + needle.len()..];
                        }
                        if !t.is_empty() {
                            next.push(Fragment::Text(t));
                        }
                    }
                    tok => next.push(tok),
                }
            }
            frags = next;
        }
        frags
    }
}
