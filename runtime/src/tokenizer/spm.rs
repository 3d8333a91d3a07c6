//! SentencePiece BPE (`tokenizer.ggml.model = "llama"`): neighbouring pieces merge when
//! their concatenation is a token, highest score first, leftmost among equal scores;
//! what is left that is not a token falls back to `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    end: usize,
    prev: Option<usize>,
    next: Option<usize>,
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
        let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let i = syms.len();
            syms.push(Sym {
                start,
                end: start + c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                syms[i - 1].next = Some(i);
            }
        }
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Bigram>, syms: &[Sym], l: usize, r: usize| {
            let piece = &text[syms[l].start..syms[r].end];
            if let Some(id) = vocab.id(piece) {
                heap.push(Bigram {
                    score: vocab.score(id),
                    left: l,
                    right: r,
                    len: piece.len(),
                });
            }
        };
        for i in 1..syms.len() {
            push(&mut heap, &syms, i - 1, i);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (b.left, b.right);
            let stale = syms[l].start == syms[l].end
                || syms[l].next != Some(r)
                || syms[r].start == syms[r].end
                || syms[r].end - syms[l].start != b.len;
            if stale {
                continue;
            }
            syms[l].end = syms[r].end;
            syms[l].next = syms[r].next;
            syms[r].start = syms[r].end;
            if let Some(n) = syms[r].next {
                syms[n].prev = Some(l);
            }
            if let Some(p) = syms[l].prev {
                push(&mut heap, &syms, p, l);
            }
            if let Some(n) = syms[l].next {
                push(&mut heap, &syms, l, n);
            }
        }

        let mut cur = if syms.is_empty() { None } else { Some(0) };
        while let Some(i) = cur {
            let s = syms[i];
            let piece = &text[s.start..s.end];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => out.extend(piece.bytes().filter_map(|b| self.byte_tokens[b as usize])),
            }
            cur = s.next;
        }
    }
}
