//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): merges applied by rank, lowest
//! first, leftmost among equal ranks, within each pre-tokenized piece.
//!
//! The merges are looked up by their text ("left right"), so loading only hashes each
//! merge once: no vocabulary lookups and no per-merge allocation. A pair of adjacent
//! symbols `l`, `r` merges with the rank of the merge whose text is `l + " " + r` and
//! which splits there (its separator is the first space after its first character).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::gguf::StrArray;

use super::symbols::Spans;
use super::text_index::{TextIndex, MAX_TEXTS};
use super::vocab::Vocab;
use super::TokenizerError;

pub(crate) struct Bpe {
    /// "left right" texts, best first: merge `i` has rank `i` (shared with the GGUF
    /// reader, not copied).
    merges: StrArray,
    /// Ranks by text; a repeated merge keeps its first (best) rank.
    ranks: TextIndex,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpe")
            .field("merges", &self.merges.len())
            .finish()
    }
}

/// Whether the separator of a merge whose left side is `left` would be the space
/// right after it: the separator is the first space after the first character
/// (llama.cpp), so `left` must have none after its first character.
fn splits_after(left: &[u8]) -> bool {
    // Bytes after the first character's lead byte: continuation bytes are never a
    // space, so skipping just the lead byte is enough.
    !left.is_empty() && !left[1..].contains(&b' ')
}

impl Bpe {
    pub(crate) fn new(merges: &StrArray) -> Result<Bpe, TokenizerError> {
        if merges.len() > MAX_TEXTS {
            return Err(TokenizerError::TooMany {
                what: "merges",
                n: merges.len(),
            });
        }
        for (rank, m) in merges.iter().enumerate() {
            // Some space after the first character's lead byte (see `splits_after`), and
            // a right side after it.
            let sep = m
                .as_bytes()
                .get(1..)
                .and_then(|b| b.iter().position(|&c| c == b' '));
            if sep.is_none_or(|p| p + 2 >= m.len()) {
                return Err(TokenizerError::BadMerge {
                    index: rank,
                    text: m.to_string(),
                });
            }
        }
        Ok(Bpe {
            merges: merges.clone(),
            ranks: TextIndex::new(merges, 0..merges.len() as u32),
        })
    }

    /// Rank of the merge of adjacent symbols `left` and `right`; `buf` is scratch.
    fn rank(&self, left: &str, right: &str, buf: &mut String) -> Option<u32> {
        if !splits_after(left.as_bytes()) {
            return None;
        }
        buf.clear();
        buf.push_str(left);
        buf.push(' ');
        buf.push_str(right);
        self.ranks.get(&self.merges, buf)
    }

    /// Appends the ids of `word` (already in byte-level characters).
    pub(crate) fn encode_word(
        &self,
        word: &str,
        vocab: &Vocab,
        ignore_merges: bool,
        out: &mut Vec<u32>,
    ) {
        if ignore_merges {
            if let Some(id) = vocab.id(word) {
                out.push(id);
                return;
            }
        }
        let mut spans = Spans::of_chars(word);
        let mut buf = String::new();
        // (rank, left index, right index, right end): the pair is stale once either
        // side merged with something else, which moves the right side's end or
        // makes the two no longer neighbours.
        let mut heap = BinaryHeap::new();
        let mut push = |heap: &mut BinaryHeap<_>, spans: &Spans, l: usize, r: usize| {
            let (left, right) = (spans.range(l), spans.range(r));
            if let Some(rank) = self.rank(&word[left], &word[right.clone()], &mut buf) {
                heap.push(Reverse((rank, l, r, right.end)));
            }
        };
        for i in 1..spans.len() {
            push(&mut heap, &spans, i - 1, i);
        }
        while let Some(Reverse((_, l, r, end))) = heap.pop() {
            if !spans.adjacent(l, r) || spans.range(r).end != end {
                continue;
            }
            spans.join(l, r);
            if let Some(p) = spans.prev(l) {
                push(&mut heap, &spans, p, l);
            }
            if let Some(n) = spans.next(l) {
                push(&mut heap, &spans, l, n);
            }
        }

        for i in spans.live() {
            let text = &word[spans.range(i)];
            match vocab.id(text) {
                Some(id) => out.push(id),
                // Not a token: llama.cpp falls back to the symbol's single bytes that are.
                None => {
                    for b in text.bytes() {
                        if let Some(id) = std::str::from_utf8(&[b]).ok().and_then(|t| vocab.id(t)) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }
}
