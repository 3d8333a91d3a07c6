//! `TextIndex`: finds a text's index in a [`StrArray`] (token texts, merge texts).
//!
//! Built once per load, so it is built cheaply: open addressing over `u32` indices
//! hashed by text, no key copies, and no text comparisons while building. With linear
//! probing and no deletions, of two equal texts the one inserted first sits earlier on
//! their common probe path, so a lookup finds it: callers choose which one wins by the
//! order they insert in.

use std::hash::Hasher;

use crate::fxhash::FxHasher;
use crate::gguf::StrArray;

/// A slot that holds no index.
const EMPTY: u32 = u32::MAX;

/// Most texts an index can hold (`EMPTY` is not an index).
pub(crate) const MAX_TEXTS: usize = EMPTY as usize;

pub(crate) struct TextIndex {
    /// Indices by text hash; a power of two at most half full.
    slots: Vec<u32>,
}

fn hash(text: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(text);
    h.write_usize(text.len());
    h.finish()
}

impl TextIndex {
    /// Indexes `texts[i]` for each `i` of `order` (all below `texts.len()`, which is
    /// at most [`MAX_TEXTS`]); where texts repeat, the one inserted first is found.
    pub(crate) fn new(texts: &StrArray, order: impl Iterator<Item = u32>) -> TextIndex {
        debug_assert!(texts.len() <= MAX_TEXTS);
        let mut index = TextIndex {
            slots: vec![EMPTY; (2 * texts.len()).next_power_of_two().max(2)],
        };
        let mask = index.slots.len() - 1;
        for i in order {
            let text = texts.get(i as usize).unwrap_or_default();
            let mut at = index.home(hash(text.as_bytes()));
            while index.slots[at] != EMPTY {
                at = (at + 1) & mask;
            }
            index.slots[at] = i;
        }
        index
    }

    /// First slot to probe for a text of hash `h`.
    fn home(&self, h: u64) -> usize {
        // The multiply mixes into the high bits best, so the index comes from those.
        (h >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Index of `text` in `texts` (the array this index was built over).
    pub(crate) fn get(&self, texts: &StrArray, text: &str) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash(text.as_bytes()));
        loop {
            let i = self.slots[at];
            if i == EMPTY {
                return None;
            }
            if texts.get(i as usize) == Some(text) {
                return Some(i);
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_text_and_the_first_inserted_of_repeats() {
        let texts: StrArray = ["a", "b", "", "a", "Ġthe", "b"].into_iter().collect();
        let forward = TextIndex::new(&texts, 0..6);
        assert_eq!(forward.get(&texts, "a"), Some(0));
        assert_eq!(forward.get(&texts, "b"), Some(1));
        assert_eq!(forward.get(&texts, ""), Some(2));
        assert_eq!(forward.get(&texts, "Ġthe"), Some(4));
        assert_eq!(forward.get(&texts, "c"), None);
        let backward = TextIndex::new(&texts, (0..6).rev());
        assert_eq!(backward.get(&texts, "a"), Some(3));
        assert_eq!(backward.get(&texts, "b"), Some(5));
        // Many texts: every one found, through collisions.
        let many: StrArray = (0..5000).map(|i| format!("t{i}")).collect();
        let index = TextIndex::new(&many, 0..5000);
        assert!((0..5000).all(|i| index.get(&many, &format!("t{i}")) == Some(i)));
        assert_eq!(index.get(&many, "t5000"), None);
    }
}
