//! Streaming detokenization: a token can end in the middle of a UTF-8 character
//! (byte-level BPE and byte fallback split them), so text is released only once whole.

/// Turns token bytes into text without splitting a UTF-8 character across tokens.
#[derive(Default)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// Adds a token's bytes; returns the text that is complete so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: keep it for the next token.
                let n = e.valid_up_to();
                let s = String::from_utf8_lossy(&self.pending[..n]).into_owned();
                self.pending.drain(..n);
                s
            }
            Err(_) => {
                let s = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                s
            }
        }
    }

    /// Whatever is left (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::TextStream;

    #[test]
    fn characters_split_across_tokens_come_out_whole() {
        let mut s = TextStream::default();
        let smile = "😀".as_bytes();
        assert_eq!(s.push(b"hi "), "hi ");
        assert_eq!(s.push(&smile[..1]), "");
        assert_eq!(s.push(&smile[1..3]), "");
        assert_eq!(s.push(&smile[3..]), "😀");
        assert_eq!(s.push(&[0xE2, 0x82]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
        assert_eq!(s.push(&[0xFF, b'a']), "\u{FFFD}a");
    }
}
