//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): merges applied by rank, lowest
//! first, leftmost among equal ranks, within each pre-tokenized piece.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::fxhash::{map_with_capacity, FxHashMap};
use crate::gguf::StrArray;

use super::symbols::Spans;
use super::vocab::{hash, Vocab};
use super::TokenizerError;

/// Symbols are interned strings, so merging compares integers: a vocabulary token is
/// its own id; a merge operand that is not a token gets a number past the vocabulary.
#[derive(Debug)]
pub(crate) struct Bpe {
    /// Symbols that are not tokens, numbered from `n_tokens`.
    extra: FxHashMap<String, u32>,
    n_tokens: u32,
    /// (left, right) -> (rank, merged symbol).
    merges: FxHashMap<(u32, u32), (u32, u32)>,
}

impl Bpe {
    pub(crate) fn new(vocab: &Vocab, merges: &StrArray) -> Result<Bpe, TokenizerError> {
        let n_tokens = vocab.len() as u32;
        // First pass, no table reads: where each merge splits and the hashes of its
        // left, right and merged texts, so the second pass can prefetch table slots a
        // few merges ahead instead of waiting on one cache miss per lookup.
        let mut merged_text = String::new();
        let mut parsed: Vec<(usize, [u64; 3])> = Vec::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            // The separator is the first space after the first character (llama.cpp).
            let split = m
                .char_indices()
                .nth(1)
                .and_then(|(i, _)| m[i..].find(' ').map(|j| i + j));
            let Some(at) = split else {
                return Err(TokenizerError::BadMerge {
                    index: rank,
                    text: m.to_string(),
                });
            };
            let (left, right) = (&m[..at], &m[at + 1..]);
            merged_text.clear();
            merged_text.push_str(left);
            merged_text.push_str(right);
            let hashes = [
                hash(left.as_bytes()),
                hash(right.as_bytes()),
                hash(merged_text.as_bytes()),
            ];
            parsed.push((at, hashes));
        }

        let mut extra: FxHashMap<String, u32> = map_with_capacity(0);
        let mut intern = |s: &str, h: u64| -> u32 {
            if let Some(id) = vocab.id_hashed(s, h) {
                return id;
            }
            let next = n_tokens + extra.len() as u32;
            *extra.entry(s.to_string()).or_insert(next)
        };
        const AHEAD: usize = 8;
        let mut table = map_with_capacity(merges.len());
        for (rank, (m, &(at, hashes))) in merges.iter().zip(&parsed).enumerate() {
            if let Some((_, ahead)) = parsed.get(rank + AHEAD) {
                ahead.iter().for_each(|&h| vocab.prefetch(h));
            }
            let (left, right) = (&m[..at], &m[at + 1..]);
            merged_text.clear();
            merged_text.push_str(left);
            merged_text.push_str(right);
            let key = (intern(left, hashes[0]), intern(right, hashes[1]));
            let merged = intern(&merged_text, hashes[2]);
            // A repeated pair keeps its first (best) rank.
            table.entry(key).or_insert((rank as u32, merged));
        }
        Ok(Bpe {
            extra,
            n_tokens,
            merges: table,
        })
    }

    fn symbol(&self, vocab: &Vocab, text: &str) -> Option<u32> {
        vocab.id(text).or_else(|| self.extra.get(text).copied())
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
        let mut buf = [0u8; 4];
        // Symbol of each span (changes as spans merge).
        let mut syms: Vec<Option<u32>> = word
            .chars()
            .map(|c| self.symbol(vocab, c.encode_utf8(&mut buf)))
            .collect();

        // (rank, left index, right index, left symbol, right symbol, merged symbol)
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, syms: &[Option<u32>], l: usize, r: usize| {
            if let (Some(a), Some(b)) = (syms[l], syms[r]) {
                if let Some(&(rank, merged)) = self.merges.get(&(a, b)) {
                    heap.push(Reverse((rank, l, r, a, b, merged)));
                }
            }
        };
        for i in 1..spans.len() {
            push(&mut heap, &syms, i - 1, i);
        }
        while let Some(Reverse((_, l, r, a, b, merged))) = heap.pop() {
            // Skip pairs that changed since they were queued.
            if !spans.adjacent(l, r) || syms[l] != Some(a) || syms[r] != Some(b) {
                continue;
            }
            spans.join(l, r);
            syms[l] = Some(merged);
            if let Some(p) = spans.prev(l) {
                push(&mut heap, &syms, p, l);
            }
            if let Some(n) = spans.next(l) {
                push(&mut heap, &syms, l, n);
            }
        }

        for i in spans.live() {
            let text = &word[spans.range(i)];
            let id = syms[i]
                .filter(|&x| x < self.n_tokens)
                .or_else(|| vocab.id(text));
            match id {
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
