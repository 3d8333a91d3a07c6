//! GPT-2's byte <-> unicode map: every byte gets a printable character so byte-level
//! BPE vocabularies can be stored as text (space is 'Ġ', newline 'Ċ').

/// Bytes that stand for themselves; the other 68 map to U+0100.. in byte order.
const fn is_direct(b: u32) -> bool {
    (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
}

/// Highest code point the map produces (0x100 + 67).
const MAX_CHAR: usize = 0x143;

const fn build_byte_to_char() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 0x100u32;
    let mut b = 0u32;
    while b < 256 {
        let cp = if is_direct(b) {
            b
        } else {
            let c = next;
            next += 1;
            c
        };
        out[b as usize] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("byte map code points are valid chars"),
        };
        b += 1;
    }
    out
}

const fn build_char_to_byte() -> [i16; MAX_CHAR + 1] {
    let map = build_byte_to_char();
    let mut out = [-1i16; MAX_CHAR + 1];
    let mut b = 0;
    while b < 256 {
        out[map[b] as usize] = b as i16;
        b += 1;
    }
    out
}

static BYTE_TO_CHAR: [char; 256] = build_byte_to_char();
static CHAR_TO_BYTE: [i16; MAX_CHAR + 1] = build_char_to_byte();

/// The character byte `b` is written as in a byte-level vocabulary.
pub(crate) fn byte_to_char(b: u8) -> char {
    BYTE_TO_CHAR[b as usize]
}

/// The byte a byte-level character stands for, if it is one.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let i = c as usize;
    if i > MAX_CHAR {
        return None;
    }
    u8::try_from(CHAR_TO_BYTE[i]).ok()
}

/// `text`'s bytes written as byte-level characters.
pub(crate) fn encode(text: &str) -> String {
    text.bytes().map(byte_to_char).collect()
}

/// Raw bytes of a byte-level token; characters outside the map keep their UTF-8 bytes.
pub(crate) fn decode_into(token: &str, out: &mut Vec<u8>) {
    for c in token.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_characters() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0), '\u{100}');
        assert_eq!(byte_to_char(0xAD), '\u{143}');
    }

    #[test]
    fn round_trip_all_bytes() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('中'), None);
    }
}
