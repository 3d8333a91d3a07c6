//! SentencePiece `tokenizer.model` files: a `ModelProto` protocol buffer, read here with a
//! small wire-format reader for the fields the converter's vocabulary needs (pieces with
//! their score and type) and those that say how the model is meant to be used
//! (`trainer_spec`, `normalizer_spec`), checked as sentencepiece checks a model it loads.

use std::io::Read;
use std::path::Path;

use crate::input_file::open_regular;
use crate::CompressError;

/// The largest tokenizer.model read: real ones are a few MB (Gemma 3's, 262,144 pieces,
/// is 4.5 MB).
pub const SPM_LIMIT: u64 = 128 << 20;

/// `ModelProto.SentencePiece.Type`; the gguf `TokenType` numbers are the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl PieceType {
    fn from_proto(v: u64) -> Option<PieceType> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// `TrainerSpec.ModelType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelType {
    Unigram,
    Bpe,
    Word,
    Char,
}

/// The `TrainerSpec` fields read (proto2 defaults when absent).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerSpec {
    pub model_type: ModelType,
    pub vocab_size: i32,
    pub byte_fallback: bool,
    pub unk_id: i32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub pad_id: i32,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        TrainerSpec {
            model_type: ModelType::Unigram,
            vocab_size: 8000,
            byte_fallback: false,
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            pad_id: -1,
        }
    }
}

/// The `NormalizerSpec` fields read (proto2 defaults when absent).
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizerSpec {
    pub name: String,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: String::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
}

impl SpmModel {
    /// Reads and checks `path`; every error names the file.
    pub fn open(path: &Path) -> Result<SpmModel, CompressError> {
        let f = open_regular(path)?;
        let mut bytes = Vec::new();
        f.take(SPM_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CompressError::io(path, "cannot read the file", e))?;
        if bytes.len() as u64 > SPM_LIMIT {
            return Err(CompressError::input(
                path,
                format!(
                    "is larger than {} MiB; not a SentencePiece model",
                    SPM_LIMIT >> 20
                ),
            ));
        }
        SpmModel::parse(&bytes).map_err(|e| {
            CompressError::input(path, format!("not a valid SentencePiece model: {e}"))
        })
    }

    /// Parses a serialized `ModelProto` and checks it as sentencepiece's
    /// `ModelInterface` does when it loads one.
    pub fn parse(bytes: &[u8]) -> Result<SpmModel, String> {
        let mut m = SpmModel::default();
        let mut r = Wire::new(bytes);
        while let Some((field, v)) = r.next()? {
            match field {
                1 => m
                    .pieces
                    .push(parse_piece(v.bytes(field, "pieces")?, m.pieces.len())?),
                2 => parse_trainer(v.bytes(field, "trainer_spec")?, &mut m.trainer)?,
                3 => parse_normalizer(v.bytes(field, "normalizer_spec")?, &mut m.normalizer)?,
                _ => {}
            }
        }
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        if self.pieces.is_empty() {
            return Err("it has no pieces".into());
        }
        let mut seen = std::collections::HashMap::with_capacity(self.pieces.len());
        let mut unk = None;
        for (i, p) in self.pieces.iter().enumerate() {
            if p.piece.is_empty() {
                return Err(format!("piece {i} is empty"));
            }
            if let Some(j) = seen.insert(p.piece.as_str(), i) {
                return Err(format!("pieces {j} and {i} are both {:?}", p.piece));
            }
            match p.kind {
                PieceType::Unknown => {
                    if let Some(j) = unk.replace(i) {
                        return Err(format!("pieces {j} and {i} are both of type UNKNOWN"));
                    }
                }
                PieceType::Byte => {
                    if !self.trainer.byte_fallback {
                        return Err(format!(
                            "piece {i} ({:?}) is a byte piece but byte_fallback is false",
                            p.piece
                        ));
                    }
                    if byte_of_piece(&p.piece).is_none() {
                        return Err(format!(
                            "piece {i} ({:?}) is a byte piece not of the form <0xXX>",
                            p.piece
                        ));
                    }
                }
                _ => {}
            }
        }
        if unk.is_none() {
            return Err("no piece is of type UNKNOWN".into());
        }
        Ok(())
    }
}

/// `<0xXX>` → the byte.
fn byte_of_piece(p: &str) -> Option<u8> {
    let hex = p.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

fn parse_piece(bytes: &[u8], index: usize) -> Result<Piece, String> {
    let mut p = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut r = Wire::new(bytes);
    let ctx = |e: String| format!("piece {index}: {e}");
    while let Some((field, v)) = r.next().map_err(ctx)? {
        match field {
            1 => p.piece = v.string(field, "piece").map_err(ctx)?,
            2 => p.score = f32::from_bits(v.fixed32(field, "score").map_err(ctx)?),
            3 => {
                let t = v.varint(field, "type").map_err(ctx)?;
                p.kind = PieceType::from_proto(t)
                    .ok_or_else(|| ctx(format!("type {t} is not a SentencePiece piece type")))?;
            }
            _ => {}
        }
    }
    Ok(p)
}

fn parse_trainer(bytes: &[u8], t: &mut TrainerSpec) -> Result<(), String> {
    let mut r = Wire::new(bytes);
    let ctx = |e: String| format!("trainer_spec: {e}");
    while let Some((field, v)) = r.next().map_err(ctx)? {
        match field {
            3 => {
                t.model_type = match v.varint(field, "model_type").map_err(ctx)? {
                    1 => ModelType::Unigram,
                    2 => ModelType::Bpe,
                    3 => ModelType::Word,
                    4 => ModelType::Char,
                    x => {
                        return Err(ctx(format!(
                            "model_type {x} is not a SentencePiece model type"
                        )))
                    }
                }
            }
            4 => t.vocab_size = v.int32(field, "vocab_size").map_err(ctx)?,
            35 => t.byte_fallback = v.varint(field, "byte_fallback").map_err(ctx)? != 0,
            40 => t.unk_id = v.int32(field, "unk_id").map_err(ctx)?,
            41 => t.bos_id = v.int32(field, "bos_id").map_err(ctx)?,
            42 => t.eos_id = v.int32(field, "eos_id").map_err(ctx)?,
            43 => t.pad_id = v.int32(field, "pad_id").map_err(ctx)?,
            _ => {}
        }
    }
    Ok(())
}

fn parse_normalizer(bytes: &[u8], n: &mut NormalizerSpec) -> Result<(), String> {
    let mut r = Wire::new(bytes);
    let ctx = |e: String| format!("normalizer_spec: {e}");
    while let Some((field, v)) = r.next().map_err(ctx)? {
        match field {
            1 => n.name = v.string(field, "name").map_err(ctx)?,
            3 => n.add_dummy_prefix = v.varint(field, "add_dummy_prefix").map_err(ctx)? != 0,
            4 => {
                n.remove_extra_whitespaces =
                    v.varint(field, "remove_extra_whitespaces").map_err(ctx)? != 0
            }
            5 => n.escape_whitespaces = v.varint(field, "escape_whitespaces").map_err(ctx)? != 0,
            _ => {}
        }
    }
    Ok(())
}

/// One field's value as the wire format carries it.
#[derive(Debug)]
enum WireValue<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> WireValue<'a> {
    fn kind(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "a varint",
            WireValue::Fixed64 => "a 64-bit value",
            WireValue::Bytes(_) => "length-delimited bytes",
            WireValue::Fixed32(_) => "a 32-bit value",
        }
    }

    fn wrong(&self, field: u32, name: &str, want: &str) -> String {
        format!(
            "field {field} ({name}) is {} where {want} is expected",
            self.kind()
        )
    }

    fn varint(&self, field: u32, name: &str) -> Result<u64, String> {
        match self {
            WireValue::Varint(v) => Ok(*v),
            _ => Err(self.wrong(field, name, "a varint")),
        }
    }

    /// An `int32`: negative values are sign-extended to 64 bits on the wire.
    fn int32(&self, field: u32, name: &str) -> Result<i32, String> {
        Ok(self.varint(field, name)? as i64 as i32)
    }

    fn fixed32(&self, field: u32, name: &str) -> Result<u32, String> {
        match self {
            WireValue::Fixed32(v) => Ok(*v),
            _ => Err(self.wrong(field, name, "a 32-bit value")),
        }
    }

    fn bytes(&self, field: u32, name: &str) -> Result<&'a [u8], String> {
        match self {
            WireValue::Bytes(b) => Ok(b),
            _ => Err(self.wrong(field, name, "a length-delimited message")),
        }
    }

    fn string(&self, field: u32, name: &str) -> Result<String, String> {
        let b = self.bytes(field, name)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("field {field} ({name}) is not UTF-8"))
    }
}

/// A reader of one message's fields (protocol buffers wire format).
struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Wire<'a> {
        Wire { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {start}"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {start}"))
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], String> {
        let start = self.pos;
        let left = (self.buf.len() - start) as u64;
        if n > left {
            return Err(format!(
                "{what} at byte {start} needs {n} bytes, {left} are left (truncated?)"
            ));
        }
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The next field (number and value), or `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u32, WireValue<'a>)>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(format!("field number {field} at byte {at}"));
        }
        let field = field as u32;
        let v = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                self.take(8, "a 64-bit value")?;
                WireValue::Fixed64
            }
            2 => {
                let n = self.varint()?;
                WireValue::Bytes(self.take(n, "a length-delimited field")?)
            }
            5 => {
                let b = self.take(4, "a 32-bit value")?;
                WireValue::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => {
                return Err(format!(
                    "field {field} at byte {at} has wire type {w} (groups or invalid)"
                ))
            }
        };
        Ok(Some((field, v)))
    }
}

/// Writers of the wire format, for tests here and elsewhere in the crate.
#[cfg(test)]
pub(crate) mod encode {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        varint(out, u64::from(field) << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
        varint(out, u64::from(field) << 3);
        varint(out, v);
    }

    pub fn piece(p: &str, score: f32, kind: u64) -> Vec<u8> {
        let mut m = Vec::new();
        bytes(&mut m, 1, p.as_bytes());
        varint(&mut m, 2 << 3 | 5);
        m.extend_from_slice(&score.to_le_bytes());
        if kind != 1 {
            uint(&mut m, 3, kind);
        }
        m
    }

    /// A model of `pieces` (text, score, type) with `trainer` and `normalizer` messages.
    pub fn model(pieces: &[(&str, f32, u64)], trainer: &[u8], normalizer: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(p, s, k) in pieces {
            bytes(&mut out, 1, &piece(p, s, k));
        }
        bytes(&mut out, 2, trainer);
        bytes(&mut out, 3, normalizer);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;

    fn small() -> Vec<u8> {
        let mut trainer = Vec::new();
        uint(&mut trainer, 3, 2); // BPE
        uint(&mut trainer, 4, 5);
        uint(&mut trainer, 35, 1);
        uint(&mut trainer, 43, (-1i64) as u64); // pad_id -1, 10 bytes
        bytes(&mut trainer, 45, b"<unk>"); // unk_piece: skipped
        let mut norm = Vec::new();
        bytes(&mut norm, 1, b"identity");
        bytes(&mut norm, 2, &[0u8; 40]); // precompiled_charsmap: skipped
        uint(&mut norm, 3, 0);
        model(
            &[
                ("<unk>", 0.0, 2),
                ("<s>", 0.0, 3),
                ("<0x41>", 0.0, 6),
                ("\u{2581}a", -1.5, 1),
                ("<x>", 0.0, 4),
            ],
            &trainer,
            &norm,
        )
    }

    #[test]
    fn reads_pieces_and_specs() {
        let m = SpmModel::parse(&small()).unwrap();
        assert_eq!(m.pieces.len(), 5);
        assert_eq!(m.pieces[3].piece, "\u{2581}a");
        assert_eq!(m.pieces[3].score, -1.5);
        assert_eq!(m.pieces[3].kind, PieceType::Normal);
        assert_eq!(m.pieces[4].kind, PieceType::UserDefined);
        assert_eq!(m.trainer.model_type, ModelType::Bpe);
        assert_eq!(m.trainer.vocab_size, 5);
        assert!(m.trainer.byte_fallback);
        assert_eq!(m.trainer.pad_id, -1);
        assert_eq!(
            (m.trainer.unk_id, m.trainer.bos_id, m.trainer.eos_id),
            (0, 1, 2)
        );
        assert_eq!(m.normalizer.name, "identity");
        assert!(!m.normalizer.add_dummy_prefix);
        assert!(m.normalizer.escape_whitespaces);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let b = small();
        for n in 0..b.len() {
            // A cut can land on a field boundary of the top message only at a piece's
            // end; those shorter models are valid or fail a check, never panic.
            let _ = SpmModel::parse(&b[..n]);
        }
        // Cut inside the trainer spec: always an error.
        let e = SpmModel::parse(&b[..b.len() - 3]).unwrap_err();
        assert!(e.contains("needs") || e.contains("truncated"), "{e}");
        assert!(SpmModel::parse(&[]).unwrap_err().contains("no pieces"));
    }

    #[test]
    fn bad_models() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x0a, 0x00], "piece 0 is empty"),
            (vec![0x0b], "wire type 3"),
            (vec![0x08, 0x80], "truncated varint"),
            (vec![0x0a, 0x05, 0x0a], "needs 5 bytes"),
            (vec![0x0d, 0, 0, 0, 0], "field 1 (pieces) is a 32-bit value"),
            (
                model(&[("a", 0.0, 1)], &[], &[]),
                "no piece is of type UNKNOWN",
            ),
            (
                model(&[("<unk>", 0.0, 2), ("<unk>", 0.0, 1)], &[], &[]),
                "pieces 0 and 1 are both \"<unk>\"",
            ),
            (
                model(&[("<unk>", 0.0, 2), ("a", 0.0, 9)], &[], &[]),
                "type 9",
            ),
            (
                model(&[("<unk>", 0.0, 2), ("<0x41>", 0.0, 6)], &[], &[]),
                "byte_fallback is false",
            ),
            (
                model(&[("<unk>", 0.0, 2), ("\u{ff}", 0.0, 1)], &[], &[])
                    .into_iter()
                    .map(|b| if b == 0xc3 { 0xff } else { b })
                    .collect(),
                "not UTF-8",
            ),
        ];
        for (bytes, want) in cases {
            let e = SpmModel::parse(&bytes).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
