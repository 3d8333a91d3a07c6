//! `StrArray`: a GGUF string array kept as one buffer of texts back to back.
//!
//! A vocabulary has ~50k tokens and as many merges: one `String` each made parsing a
//! model file ~100k allocations. Here reading the array is one copy into one buffer,
//! validated as UTF-8 in one pass, and shared rather than copied by whoever keeps it.

use std::fmt;
use std::sync::Arc;

/// An array of strings stored back to back in one buffer. Clones share the buffer
/// (a tokenizer keeps the texts of the file it was built from without copying them);
/// pushing to a shared array copies it first.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrArray(Arc<Buf>);

#[derive(Clone, Default, PartialEq, Eq)]
struct Buf {
    text: String,
    /// String `i` is `text[ends[i - 1]..ends[i]]` (starting at 0 for `i == 0`).
    ends: Vec<usize>,
}

impl StrArray {
    pub fn new() -> StrArray {
        StrArray::default()
    }

    /// Room for `n` strings of `bytes` bytes in all.
    pub fn with_capacity(n: usize, bytes: usize) -> StrArray {
        StrArray(Arc::new(Buf {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(n),
        }))
    }

    /// Builds the array from bytes already laid out as `text` with `ends`, checking
    /// that `text` is UTF-8 and every string ends on a character boundary (so each
    /// one is UTF-8 on its own). `None` when not; `ends` must be non-decreasing and
    /// within `text` (the caller's construction guarantees it).
    pub(crate) fn from_parts(text: Vec<u8>, ends: Vec<usize>) -> Option<StrArray> {
        // SIMD validation: std's check is a large share of parsing a vocabulary whose
        // every other token has a non-ASCII character (byte-level BPE's 'Ġ').
        simdutf8::basic::from_utf8(&text).ok()?;
        // SAFETY: `text` was just validated as UTF-8.
        let text = unsafe { String::from_utf8_unchecked(text) };
        ends.iter()
            .all(|&e| text.is_char_boundary(e))
            .then(|| StrArray(Arc::new(Buf { text, ends })))
    }

    pub fn push(&mut self, s: &str) {
        let b = Arc::make_mut(&mut self.0);
        b.text.push_str(s);
        b.ends.push(b.text.len());
    }

    pub fn len(&self) -> usize {
        self.0.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.ends.is_empty()
    }

    /// String `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let b = &*self.0;
        let end = *b.ends.get(i)?;
        let start = if i == 0 { 0 } else { b.ends[i - 1] };
        Some(&b.text[start..end])
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            array: self,
            range: 0..self.len(),
        }
    }

    /// Total bytes of all strings.
    pub fn text_len(&self) -> usize {
        self.0.text.len()
    }

    /// The strings as separate `String`s.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

/// The strings of a [`StrArray`] in order.
#[derive(Clone)]
pub struct Iter<'a> {
    array: &'a StrArray,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let i = self.range.next()?;
        self.array.get(i)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.range.next_back()?;
        self.array.get(i)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a StrArray {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl std::ops::Index<usize> for StrArray {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(s) => s,
            None => panic!(
                "index {i} out of range for a string array of {}",
                self.len()
            ),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for StrArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> StrArray {
        let mut a = StrArray::new();
        a.extend(iter);
        a
    }
}

impl<S: AsRef<str>> Extend<S> for StrArray {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for s in iter {
            self.push(s.as_ref());
        }
    }
}

impl From<Vec<String>> for StrArray {
    fn from(v: Vec<String>) -> StrArray {
        let bytes = v.iter().map(String::len).sum();
        let mut a = StrArray::with_capacity(v.len(), bytes);
        a.extend(&v);
        a
    }
}

impl<S: AsRef<str>> From<&[S]> for StrArray {
    fn from(v: &[S]) -> StrArray {
        v.iter().collect()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for StrArray {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for StrArray {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for StrArray {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for StrArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_iter() {
        let mut a = StrArray::new();
        for s in ["a", "", "héllo", "Ġthe"] {
            a.push(s);
        }
        assert_eq!(a.len(), 4);
        assert_eq!(a.get(0), Some("a"));
        assert_eq!(a.get(1), Some(""));
        assert_eq!(&a[2], "héllo");
        assert_eq!(a.get(4), None);
        assert_eq!(a.iter().next_back(), Some("Ġthe"));
        assert_eq!(a.iter().len(), 4);
        assert_eq!(a, ["a", "", "héllo", "Ġthe"]);
        assert_eq!(a.to_vec(), ["a", "", "héllo", "Ġthe"]);
        assert_eq!(StrArray::from(a.to_vec()), a);
        assert_eq!(format!("{a:?}"), r#"["a", "", "héllo", "Ġthe"]"#);
        // A clone shares the texts until one side changes.
        let mut b = a.clone();
        assert!(std::ptr::eq(a.get(2).unwrap(), b.get(2).unwrap()));
        b.push("x");
        assert_eq!((a.len(), b.len()), (4, 5));
        assert_eq!(b.get(4), Some("x"));
    }

    #[test]
    fn from_parts_rejects_a_string_ending_inside_a_character() {
        // "é" is two bytes; split between them, each half alone is not UTF-8.
        let text = "é".as_bytes().to_vec();
        assert!(StrArray::from_parts(text.clone(), vec![1, 2]).is_none());
        assert_eq!(StrArray::from_parts(text, vec![0, 2]).unwrap(), ["", "é"]);
        assert!(StrArray::from_parts(vec![0xff], vec![1]).is_none());
    }
}
