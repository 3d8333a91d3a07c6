//! Hostile input: every truncation of a valid file is an error, and thousands of random
//! byte changes give Ok or Err but never a panic.

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};

/// xorshift64*: deterministic, tiny.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A small valid file. Its last tensor's size is a multiple of the alignment, so the
/// file ends exactly where that tensor's data ends: cutting any byte loses data.
fn sample() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::String("llama".into()));
    w.add_metadata("llama.block_count", MetaValue::U32(2));
    w.add_metadata("f", MetaValue::F32(1.5));
    w.add_metadata("d", MetaValue::F64(2.5));
    w.add_metadata("b", MetaValue::Bool(true));
    w.add_metadata("i", MetaValue::I64(-3));
    w.add_metadata(
        "toks",
        MetaValue::Array(MetaArray::String(["a", "bc"].into_iter().collect())),
    );
    w.add_metadata("sc", MetaValue::Array(MetaArray::F32(vec![0.5, 1.0])));
    w.add_metadata(
        "nest",
        MetaValue::Array(MetaArray::Array(vec![
            MetaArray::I32(vec![1]),
            MetaArray::U8(vec![]),
        ])),
    );
    w.add_tensor("a", vec![32, 2], GgmlType::Q8_0, vec![7; 68])
        .unwrap();
    w.add_tensor("b", vec![8], GgmlType::F32, vec![1; 32])
        .unwrap();
    w.to_bytes()
}

/// Uses everything a parsed file offers, so a bad value accepted at open would show up.
fn exercise(f: &GgufFile) {
    for (k, _) in f.metadata() {
        let _ = (
            f.get_str(k),
            f.get_u32(k),
            f.get_u64(k),
            f.get_f32(k),
            f.get_bool(k),
        );
        let _ = (f.get_str_array(k), f.get_f32_array(k), f.get_i32_array(k));
    }
    for t in f.tensors() {
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes);
        assert!(f.data_offset() + t.offset + t.n_bytes <= f.file_size());
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample();
    let full = GgufFile::from_bytes("sample.gguf", bytes.clone()).unwrap();
    exercise(&full);
    for len in 0..bytes.len() {
        let r = GgufFile::from_bytes("sample.gguf", bytes[..len].to_vec());
        let e = r.expect_err(&format!("prefix of {len} bytes parsed"));
        assert!(e.to_string().starts_with("sample.gguf: "), "{e}");
    }
}

#[test]
fn truncated_files_on_disk_are_errors() {
    let bytes = sample();
    let dir = std::env::temp_dir();
    for len in [0, 3, 4, 23, 24, 100, bytes.len() - 1] {
        let path = dir.join(format!(
            "edgelm-gguf-trunc-{}-{len}.gguf",
            std::process::id()
        ));
        std::fs::write(&path, &bytes[..len]).unwrap();
        let r = GgufFile::open(&path);
        std::fs::remove_file(&path).unwrap();
        let e = r.unwrap_err().to_string();
        assert!(e.contains("edgelm-gguf-trunc"), "{e}");
    }
}

#[test]
fn random_byte_changes_never_panic() {
    let bytes = sample();
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let (mut ok, mut err) = (0, 0);
    // Most of the file is header; corrupt there most of the time.
    let header_len = bytes.len() - 128;
    for _ in 0..20_000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let i = if rng.below(8) == 0 {
                rng.below(b.len())
            } else {
                rng.below(header_len)
            };
            match rng.below(3) {
                0 => b[i] ^= 1 << rng.below(8),
                1 => b[i] = rng.next() as u8,
                _ => b[i] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            }
        }
        if rng.below(10) == 0 {
            let cut = rng.below(b.len());
            b.truncate(cut);
        }
        match GgufFile::from_bytes("fuzz.gguf", b) {
            Ok(f) => {
                exercise(&f);
                ok += 1;
            }
            Err(e) => {
                assert!(e.to_string().starts_with("fuzz.gguf: "), "{e}");
                err += 1;
            }
        }
    }
    // Both outcomes occur, so the mutations reach past the magic check.
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}

/// Hostile counts and lengths placed at every 8-byte field of the file.
#[test]
fn huge_values_at_every_position_never_panic() {
    let bytes = sample();
    for i in 0..bytes.len() - 8 {
        for v in [u64::MAX, 1 << 62, u32::MAX as u64, 0x1_0000_0000] {
            let mut b = bytes.clone();
            b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            if let Ok(f) = GgufFile::from_bytes("huge.gguf", b) {
                exercise(&f);
            }
        }
    }
}
