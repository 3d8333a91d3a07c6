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
use super::vocab::{hash, Vocab};
use super::TokenizerError;

/// A slot of the rank table that holds no merge.
const EMPTY: u32 = u32::MAX;

pub(crate) struct Bpe {
    /// "left right" texts, best first: merge `i` has rank `i`.
    merges: StrArray,
    /// Ranks by hash of the merge text, linear probing; a power of two at most half
    /// full. A repeated text keeps its first (best) rank.
    slots: Vec<u32>,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpe")
            .field("merges", &self.merges.len())
            .finish()
    }
}

/// Where `merge` splits into left and right: its first space after the first
/// character (llama.cpp), or `None` if it has none.
fn split_at(merge: &str) -> Option<usize> {
    let first = merge.chars().next()?.len_utf8();
    merge[first..].find(' ').map(|j| first + j)
}

impl Bpe {
    pub(crate) fn new(merges: &StrArray) -> Result<Bpe, TokenizerError> {
        let n = merges.len();
        if n >= EMPTY as usize {
            return Err(TokenizerError::TooManyMerges(n));
        }
        let mut bpe = Bpe {
            merges: merges.clone(),
            slots: vec![EMPTY; (2 * n).next_power_of_two().max(2)],
        };
        for (rank, m) in merges.iter().enumerate() {
            if split_at(m).is_none() {
                return Err(TokenizerError::BadMerge {
                    index: rank,
                    text: m.to_string(),
                });
            }
            let slot = bpe.find(m, hash(m.as_bytes()));
            if bpe.slots[slot] == EMPTY {
                bpe.slots[slot] = rank as u32;
            }
        }
        Ok(bpe)
    }

    /// The slot holding the rank of merge text `text` (of hash `h`), or the empty
    /// slot where it would go.
    fn find(&self, text: &str, h: u64) -> usize {
        let mask = self.slots.len() - 1;
        // The multiply mixes into the high bits best, so the index comes from those.
        let mut at = (h >> (64 - self.slots.len().trailing_zeros())) as usize;
        loop {
            let rank = self.slots[at];
            if rank == EMPTY || self.merges.get(rank as usize) == Some(text) {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// Rank of the merge of adjacent symbols `left` and `right`; `buf` is scratch.
    fn rank(&self, left: &str, right: &str, buf: &mut String) -> Option<u32> {
        // A space inside `left` (after its first character) would split the text
        // "left right" elsewhere, so no merge has exactly these two sides.
        let first = left.chars().next()?.len_utf8();
        if left[first..].contains(' ') {
            return None;
        }
        buf.clear();
        buf.push_str(left);
        buf.push(' ');
        buf.push_str(right);
        let rank = self.slots[self.find(buf, hash(buf.as_bytes()))];
        (rank != EMPTY).then_some(rank)
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
