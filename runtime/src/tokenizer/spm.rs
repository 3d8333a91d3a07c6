//! SentencePiece BPE (`tokenizer.ggml.model = "llama"`): neighbouring pieces merge when
//! their concatenation is a token, highest score first, leftmost among equal scores;
//! what is left that is not a token falls back to `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::symbols::Spans;
use super::vocab::Vocab;

/// SentencePiece's stand-in for a space.
pub(crate) const SPACE: &str = "\u{2581}";

#[derive(Debug)]
pub(crate) struct Spm {
    /// Token for each byte: `<0xXX>`, else the byte's own text, else the unknown token.
    byte_tokens: Vec<Option<u32>>,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    /// Byte length of the pair when queued, to spot pairs that changed since.
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

impl Spm {
    pub(crate) fn new(vocab: &Vocab, unk: Option<u32>) -> Spm {
        let mut byte_tokens = vec![None; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            let own = char::from_u32(b as u32)
                .filter(|_| b < 0x80)
                .and_then(|c| vocab.id(c.encode_utf8(&mut [0u8; 4])));
            *slot = vocab.id(&format!("<0x{b:02X}>")).or(own).or(unk);
        }
        Spm { byte_tokens }
    }

    /// Appends the ids of `text` (spaces already replaced by U+2581).
    pub(crate) fn encode(&self, text: &str, vocab: &Vocab, out: &mut Vec<u32>) {
        let mut spans = Spans::of_chars(text);
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Bigram>, spans: &Spans, l: usize, r: usize| {
            let piece = &text[spans.pair_range(l, r)];
            if let Some(id) = vocab.id(piece) {
                heap.push(Bigram {
                    score: vocab.score(id),
                    left: l,
                    right: r,
                    len: piece.len(),
                });
            }
        };
        for i in 1..spans.len() {
            push(&mut heap, &spans, i - 1, i);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (b.left, b.right);
            if !spans.adjacent(l, r) || spans.pair_range(l, r).len() != b.len {
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
            let piece = &text[spans.range(i)];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => out.extend(piece.bytes().filter_map(|b| self.byte_tokens[b as usize])),
            }
        }
    }
}
