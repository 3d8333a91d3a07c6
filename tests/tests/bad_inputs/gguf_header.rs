//! Every field of the GGUF header, metadata entries and tensor infos overwritten in the
//! bytes with values that break it: zero, one past, huge, all ones, unknown type tags,
//! misaligned or overlapping offsets.

use edgelm_runtime::gguf::MetaValue;

use crate::harness::Case;
use edgelm_tests::tiny_gguf::TinyGguf;

use crate::gguf_case::run_case;

const GROUP: &str = "gguf_header";

/// Where one field lives in the file.
struct Field {
    label: String,
    at: usize,
    width: usize,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Version,
    Count,
    StrLen,
    ValueType { is_string: bool },
    ArrayElemType { is_string: bool },
    ArrayLen,
    NDims,
    Dim,
    TensorType,
    Offset { first: bool },
}

struct Walker<'a> {
    b: &'a [u8],
    at: usize,
    fields: Vec<Field>,
}

impl Walker<'_> {
    fn u32(&mut self) -> u32 {
        let v = u32::from_le_bytes(self.b[self.at..self.at + 4].try_into().unwrap());
        self.at += 4;
        v
    }
    fn u64(&mut self) -> u64 {
        let v = u64::from_le_bytes(self.b[self.at..self.at + 8].try_into().unwrap());
        self.at += 8;
        v
    }
    fn mark(&mut self, label: String, width: usize, kind: Kind) {
        self.fields.push(Field {
            label,
            at: self.at,
            width,
            kind,
        });
    }
    /// Reads a string, marking its length field with a label made from its text.
    fn string(&mut self, label: impl FnOnce(&str) -> String) -> String {
        let at = self.at;
        let n = self.u64() as usize;
        let s = String::from_utf8_lossy(&self.b[self.at..self.at + n]).into_owned();
        self.at += n;
        self.fields.push(Field {
            label: label(&s),
            at,
            width: 8,
            kind: Kind::StrLen,
        });
        s
    }
    /// Reads a u32 type tag, marking it with the kind `kind` makes of its value.
    fn type_tag(&mut self, label: String, kind: impl FnOnce(u32) -> Kind) -> u32 {
        let at = self.at;
        let ty = self.u32();
        self.fields.push(Field {
            label,
            at,
            width: 4,
            kind: kind(ty),
        });
        ty
    }
    /// Skips one value of type `ty`; arrays' element fields are not marked.
    fn skip_value(&mut self, ty: u32) {
        match ty {
            0 | 1 | 7 => self.at += 1,
            2 | 3 => self.at += 2,
            4..=6 => self.at += 4,
            10..=12 => self.at += 8,
            8 => {
                let n = self.u64() as usize;
                self.at += n;
            }
            9 => {
                let et = self.u32();
                let n = self.u64();
                for _ in 0..n {
                    self.skip_value(et);
                }
            }
            _ => panic!("type {ty}"),
        }
    }
}

/// The fields of a GGUF file, found by walking it.
fn fields(b: &[u8]) -> Vec<Field> {
    let mut w = Walker {
        b,
        at: 4,
        fields: Vec::new(),
    };
    w.mark("version".into(), 4, Kind::Version);
    w.u32();
    w.mark("tensor count".into(), 8, Kind::Count);
    let n_tensors = w.u64();
    w.mark("metadata count".into(), 8, Kind::Count);
    let n_kv = w.u64();
    for _ in 0..n_kv {
        let key = w.string(|k| format!("{k}: key length"));
        let ty = w.type_tag(format!("{key}: value type"), |t| Kind::ValueType {
            is_string: t == 8,
        });
        match ty {
            8 => {
                w.string(|_| format!("{key}: string length"));
            }
            9 => {
                let et = w.type_tag(format!("{key}: element type"), |t| Kind::ArrayElemType {
                    is_string: t == 8,
                });
                w.mark(format!("{key}: array length"), 8, Kind::ArrayLen);
                let n = w.u64();
                for _ in 0..n {
                    w.skip_value(et);
                }
            }
            t => w.skip_value(t),
        }
    }
    for i in 0..n_tensors {
        let name = w.string(|n| format!("{n}: name length"));
        w.mark(format!("{name}: n_dims"), 4, Kind::NDims);
        let nd = w.u32();
        for d in 0..nd {
            w.mark(format!("{name}: dim {d}"), 8, Kind::Dim);
            w.u64();
        }
        w.mark(format!("{name}: type"), 4, Kind::TensorType);
        w.u32();
        w.mark(format!("{name}: offset"), 8, Kind::Offset { first: i == 0 });
        w.u64();
    }
    w.fields
}

/// The bad values for a field of `kind` holding `orig`; `true` marks a value that may
/// still make a valid file (another valid type tag).
fn bad_values(kind: Kind, orig: u64) -> Vec<(String, u64, bool)> {
    let v = |label: &str, x: u64| (label.to_string(), x, false);
    let m32 = u32::MAX as u64;
    match kind {
        // Version 2 has version 3's layout (3 added big-endian files): it may load.
        Kind::Version => vec![
            v("0", 0),
            v("1", 1),
            ("2".into(), 2, true),
            v("4", 4),
            v("2^32-1", m32),
        ],
        Kind::Count => vec![
            v("0", 0),
            v("one less", orig - 1),
            v("one more", orig + 1),
            v("2^32", 1 << 32),
            v("2^64-1", u64::MAX),
        ],
        Kind::StrLen => vec![
            v("one more", orig + 1),
            v("2^40", 1 << 40),
            v("2^64-1", u64::MAX),
        ],
        Kind::ValueType { is_string } => vec![
            v("13", 13),
            v("2^32-1", m32),
            (
                "another valid type".into(),
                if is_string { 4 } else { 8 },
                true,
            ),
        ],
        Kind::ArrayElemType { is_string } => vec![
            v("9 (nested)", 9),
            v("13", 13),
            (
                "another valid type".into(),
                if is_string { 4 } else { 8 },
                true,
            ),
        ],
        Kind::ArrayLen => vec![
            v("one more", orig + 1),
            v("2^40", 1 << 40),
            v("2^64-1", u64::MAX),
        ],
        Kind::NDims => vec![v("0", 0), v("5", 5), v("2^32-1", m32)],
        Kind::Dim => vec![
            v("0", 0),
            v("one more", orig + 1),
            v("2^64-1", u64::MAX),
            v("2^62", 1 << 62),
        ],
        Kind::TensorType => vec![
            v("4 (a removed type)", 4),
            v("99", 99),
            v("2^32-1", m32),
            ("1 (f16)".into(), 1, true),
        ],
        Kind::Offset { first } => {
            let mut out = vec![
                v("+1 (misaligned)", orig + 1),
                v("+32 (overlapping the next)", orig + 32),
                v("2^64-1", u64::MAX),
                v("2^64-32", u64::MAX - 31),
            ];
            if !first {
                out.push(v("0 (overlapping the first)", 0));
            }
            out
        }
    }
}

pub fn cases() -> Vec<Case> {
    let bytes = TinyGguf::llama().bytes();
    let mut out = Vec::new();
    for (label, magic) in [
        ("magic GGUG", b"GGUG"),
        ("magic zeros", b"\0\0\0\0"),
        ("magic GGML", b"GGML"),
    ] {
        let mut b = bytes.clone();
        b[..4].copy_from_slice(magic);
        out.push((label.to_string(), b, false));
    }
    for f in fields(&bytes) {
        let orig = match f.width {
            4 => u32::from_le_bytes(bytes[f.at..f.at + 4].try_into().unwrap()) as u64,
            _ => u64::from_le_bytes(bytes[f.at..f.at + 8].try_into().unwrap()),
        };
        for (vl, val, ok) in bad_values(f.kind, orig) {
            let mut b = bytes.clone();
            match f.width {
                4 => b[f.at..f.at + 4].copy_from_slice(&(val as u32).to_le_bytes()),
                _ => b[f.at..f.at + 8].copy_from_slice(&val.to_le_bytes()),
            }
            out.push((format!("{} = {vl}", f.label), b, ok));
        }
    }
    // The alignment key: zero, not a power of two, huge. Written as 32, then overwritten
    // (the writer would pad to the value it is given).
    let mut m = TinyGguf::llama();
    m.set("general.alignment", MetaValue::U32(32));
    let aligned = m.bytes();
    let key = b"general.alignment";
    let at = aligned
        .windows(key.len())
        .position(|w| w == key)
        .expect("the key is in the file")
        + key.len()
        + 4;
    for a in [0u32, 3, 1 << 31] {
        let mut b = aligned.clone();
        b[at..at + 4].copy_from_slice(&a.to_le_bytes());
        out.push((format!("general.alignment = {a}"), b, false));
    }
    let mut cases = Vec::new();
    for (i, (name, b, ok)) in out.into_iter().enumerate() {
        // run_case writes the tiny model; the case's own bytes replace it.
        let c = run_case(GROUP, i, name, &TinyGguf::llama());
        std::fs::write(c.dir.join("model.gguf"), b).unwrap();
        cases.push(if ok { c.or_ok() } else { c });
    }
    cases
}

/// The file cut short at a spread of points through the header, metadata, tensor infos
/// and data: every cut loses something, so every one is refused.
pub fn truncations() -> Vec<Case> {
    let bytes = TinyGguf::llama().bytes();
    let cuts: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 100 + 1).collect();
    cuts.into_iter()
        .chain([bytes.len() - 1])
        .enumerate()
        .map(|(i, cut)| {
            let c = run_case(
                "gguf_truncation",
                i,
                format!("cut at {cut}"),
                &TinyGguf::llama(),
            );
            std::fs::write(c.dir.join("model.gguf"), &bytes[..cut]).unwrap();
            c
        })
        .collect()
}
