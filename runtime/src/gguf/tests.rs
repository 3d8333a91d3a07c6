//! Unit tests: each validation rule gets a hand-made file that breaks exactly it.

use edgelm_kernels::quant::GgmlType;

use super::*;

/// Raw header bytes: magic, version, tensor count, metadata count.
fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b
}

fn string(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s);
}

fn parse(b: Vec<u8>) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes("t.gguf", b)
}

fn err(b: Vec<u8>) -> String {
    parse(b).unwrap_err().to_string()
}

/// One tensor info (name, dims, type id, offset) after a header with no metadata.
fn one_tensor(dims: &[u64], ty: u32, offset: u64, data_len: usize) -> Vec<u8> {
    let mut b = header(3, 1, 0);
    string(&mut b, b"w");
    b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&offset.to_le_bytes());
    b.resize(b.len().div_ceil(32) * 32 + data_len, 0);
    b
}

#[test]
fn minimal_file_parses() {
    let f = parse(header(3, 0, 0)).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert!(f.metadata().is_empty() && f.tensors().is_empty());
    assert_eq!(parse(header(2, 0, 0)).unwrap().version(), 2);
}

#[test]
fn bad_magic_and_versions() {
    let mut b = header(3, 0, 0);
    b[0] = b'X';
    assert!(err(b).contains("not a GGUF file"));
    let e = err(header(1, 0, 0));
    assert!(e.contains("t.gguf") && e.contains("version 1"), "{e}");
    let e = err(header(3u32.swap_bytes(), 0, 0));
    assert!(e.contains("big-endian"), "{e}");
    assert!(err(header(4, 0, 0)).contains("unsupported GGUF version 4"));
}

#[test]
fn hostile_counts_are_rejected_before_allocating() {
    assert!(err(header(3, 0, u64::MAX)).contains("metadata count"));
    assert!(err(header(3, u64::MAX, 0)).contains("tensor count"));
    // A string claiming 2^63 bytes.
    let mut b = header(3, 0, 1);
    b.extend_from_slice(&(1u64 << 63).to_le_bytes());
    assert!(err(b).contains("cannot fit"));
    // An array of u64 claiming more elements than bytes left.
    let mut b = header(3, 0, 1);
    string(&mut b, b"k");
    b.extend_from_slice(&9u32.to_le_bytes());
    b.extend_from_slice(&10u32.to_le_bytes());
    b.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    let e = err(b);
    assert!(
        e.contains("metadata key 'k'") && e.contains("array<u64>"),
        "{e}"
    );
}

#[test]
fn nesting_depth_is_limited() {
    let mut b = header(3, 0, 1);
    string(&mut b, b"deep");
    b.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..20 {
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
    }
    b.extend_from_slice(&[0; 64]);
    assert!(err(b).contains("nested deeper"));
}

/// A string array whose elements are each checked: one ending inside a character is
/// rejected even though the array's bytes back to back are valid UTF-8.
#[test]
fn invalid_utf8_in_a_string_array_names_the_element() {
    let array = |elems: &[&[u8]]| {
        let mut b = header(3, 0, 1);
        string(&mut b, b"toks");
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&(elems.len() as u64).to_le_bytes());
        for e in elems {
            string(&mut b, e);
        }
        b
    };
    let e = "é".as_bytes();
    let f = parse(array(&[b"a", e, b""])).unwrap();
    assert_eq!(*f.get_str_array("toks").unwrap().unwrap(), ["a", "é", ""]);
    // Key "toks" (8 + 4 bytes) after the 24-byte header, then type, element type and
    // count (4 + 4 + 8), then "a" (8 + 1): the second element starts at offset 61.
    let msg = err(array(&[b"a", &e[..1], &e[1..]]));
    assert!(
        msg.contains("'toks'") && msg.contains("offset 61") && msg.contains("not valid UTF-8"),
        "{msg}"
    );
    let msg = err(array(&[b"a", &[0xff]]));
    assert!(
        msg.contains("offset 61") && msg.contains("not valid UTF-8"),
        "{msg}"
    );
    let msg = err(array(&[b"a", b"abcdefghijklmnop"])[..80].to_vec());
    assert!(
        msg.contains("string array element length") && msg.contains("cannot fit"),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_and_duplicates() {
    let mut b = header(3, 0, 1);
    string(&mut b, &[0xff, 0xfe]);
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    assert!(err(b).contains("not valid UTF-8"));

    let mut w = GgufWriter::new();
    w.add_metadata("a", MetaValue::U8(1));
    w.add_metadata("b", MetaValue::U8(2));
    let mut b = w.to_bytes();
    // Rename key "b" to "a" in place.
    let i = b.iter().rposition(|&c| c == b'b').unwrap();
    b[i] = b'a';
    assert!(err(b).contains("duplicate metadata key 'a'"));

    let mut w = GgufWriter::new();
    w.add_tensor("x", vec![1], GgmlType::F32, vec![0; 4])
        .unwrap();
    w.add_tensor("y", vec![1], GgmlType::F32, vec![0; 4])
        .unwrap();
    let mut b = w.to_bytes();
    let i = b.iter().rposition(|&c| c == b'y').unwrap();
    b[i] = b'x';
    assert!(err(b).contains("duplicate tensor name 'x'"));
}

#[test]
fn tensor_info_rules() {
    assert!(parse(one_tensor(&[8, 2], 0, 0, 64)).is_ok());
    let e = err(one_tensor(&[8, 2], 0, 0, 63));
    assert!(e.contains("tensor 'w' data runs past end of file"), "{e}");
    assert!(err(one_tensor(&[], 0, 0, 0)).contains("n_dims is 0"));
    assert!(err(one_tensor(&[1; 5], 0, 0, 4)).contains("n_dims is 5"));
    let e = err(one_tensor(&[32], 4, 0, 64));
    assert!(e.contains("tensor 'w'") && e.contains("type id 4"), "{e}");
    assert!(err(one_tensor(&[16], 8, 0, 64)).contains("not a multiple of the Q8_0 block size 32"));
    assert!(err(one_tensor(&[1 << 40, 1 << 40], 0, 0, 0)).contains("overflow"));
    assert!(err(one_tensor(&[1], 0, 4, 64)).contains("not a multiple of the alignment"));
    let e = err(one_tensor(&[1], 0, u64::MAX - 31, 64));
    assert!(e.contains("past end of file"), "{e}");
}

#[test]
fn alignment_key_is_validated() {
    for bad in [
        MetaValue::U32(0),
        MetaValue::U32(48),
        MetaValue::String("32".into()),
    ] {
        let mut w = GgufWriter::new();
        w.add_metadata(ALIGNMENT_KEY, bad);
        assert!(err(w.to_bytes()).contains("power of two"));
    }
}

#[test]
fn typed_getters() {
    let mut w = GgufWriter::new();
    w.add_metadata("u8", MetaValue::U8(7));
    w.add_metadata("neg", MetaValue::I32(-1));
    w.add_metadata("big", MetaValue::U64(1 << 40));
    w.add_metadata("f64", MetaValue::F64(0.5));
    w.add_metadata("s", MetaValue::String("x".into()));
    w.add_metadata(
        "toks",
        MetaValue::Array(MetaArray::String(["a"].into_iter().collect())),
    );
    let f = parse(w.to_bytes()).unwrap();
    assert_eq!(f.get_u32("u8").unwrap(), Some(7));
    assert_eq!(f.get_u64("big").unwrap(), Some(1 << 40));
    assert_eq!(f.get_u32("missing").unwrap(), None);
    assert_eq!(f.get_f32("f64").unwrap(), Some(0.5));
    assert_eq!(f.get_str("s").unwrap(), Some("x"));
    assert_eq!(*f.get_str_array("toks").unwrap().unwrap(), ["a"]);
    let e = f.get_u32("big").unwrap_err().to_string();
    assert!(
        e.contains("t.gguf") && e.contains("'big'") && e.contains("u32"),
        "{e}"
    );
    assert!(f.get_u64("neg").is_err());
    let e = f.get_str("u8").unwrap_err().to_string();
    assert_eq!(e, "t.gguf: metadata key 'u8' has type u8, expected string");
    let e = f.get_f32_array("toks").unwrap_err().to_string();
    assert!(
        e.contains("array<string>") && e.contains("array<f32>"),
        "{e}"
    );
}

#[test]
fn writer_checks_tensors() {
    let mut w = GgufWriter::new();
    assert!(w
        .add_tensor("a", vec![32], GgmlType::Q8_0, vec![0; 33])
        .is_err());
    assert!(w.add_tensor("a", vec![31], GgmlType::Q8_0, vec![]).is_err());
    assert!(w.add_tensor("a", vec![], GgmlType::F32, vec![]).is_err());
    w.add_tensor("a", vec![32], GgmlType::Q8_0, vec![0; 34])
        .unwrap();
    let e = w
        .add_tensor("a", vec![1], GgmlType::F32, vec![0; 4])
        .unwrap_err();
    assert!(e.to_string().contains("duplicate"));
}

#[test]
fn open_errors_name_the_path() {
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("edgelm-missing-{}.gguf", std::process::id()));
    let e = GgufFile::open(&missing).unwrap_err().to_string();
    assert!(e.contains(&*missing.to_string_lossy()), "{e}");

    let empty = dir.join(format!("edgelm-empty-{}.gguf", std::process::id()));
    std::fs::write(&empty, b"").unwrap();
    let e = GgufFile::open(&empty).unwrap_err().to_string();
    std::fs::remove_file(&empty).unwrap();
    assert!(
        e.contains("empty file") && e.contains("edgelm-empty"),
        "{e}"
    );
}

#[test]
fn write_renames_and_leaves_no_temp() {
    let dir = std::env::temp_dir().join(format!("edgelm-gguf-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.gguf");
    let mut w = GgufWriter::new();
    w.set_alignment(64);
    w.add_tensor("t", vec![3], GgmlType::F32, vec![1; 12])
        .unwrap();
    w.write(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensor_data(f.tensor("t").unwrap()), &[1; 12]);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["m.gguf"]);
    drop(f);
    // Writing into a folder that does not exist fails cleanly.
    assert!(w.write(dir.join("no/such/dir/m.gguf")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scratch folder under the system temp dir, removed when dropped.
struct Scratch(std::path::PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("edgelm-gguf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn streamed_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_metadata("k", MetaValue::U32(7));
    w.add_tensor("inline0", vec![3], GgmlType::F32, vec![1; 12])
        .unwrap();
    w.add_tensor_info("streamed", vec![32, 2], GgmlType::Q8_0)
        .unwrap();
    w.add_tensor("inline1", vec![1], GgmlType::F32, vec![2; 4])
        .unwrap();
    w
}

#[test]
fn streamed_tensors_equal_inline_ones() {
    let dir = Scratch::new("stream");
    let path = dir.0.join("s.gguf");
    let data: Vec<u8> = (0..68u8).collect();
    streamed_writer()
        .write_streaming(&path, |sink| sink.write("streamed", &data))
        .unwrap();

    let mut inline = GgufWriter::new();
    inline.add_metadata("k", MetaValue::U32(7));
    inline
        .add_tensor("inline0", vec![3], GgmlType::F32, vec![1; 12])
        .unwrap();
    inline
        .add_tensor("streamed", vec![32, 2], GgmlType::Q8_0, data.clone())
        .unwrap();
    inline
        .add_tensor("inline1", vec![1], GgmlType::F32, vec![2; 4])
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), inline.to_bytes());
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.tensor_data(f.tensor("streamed").unwrap()), &data[..]);
}

#[test]
fn failed_streams_leave_no_file() {
    let dir = Scratch::new("stream-fail");
    let path = dir.0.join("s.gguf");
    let no_files = || std::fs::read_dir(&dir.0).unwrap().count() == 0;

    // The declared tensor never gets its data.
    let e = streamed_writer().write(&path).unwrap_err().to_string();
    assert!(e.contains("'streamed' was declared but no data"), "{e}");
    assert!(no_files());

    // Wrong name, wrong size.
    let e = streamed_writer()
        .write_streaming(&path, |sink| sink.write("inline1", &[0; 4]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected tensor 'streamed' next"), "{e}");
    let e = streamed_writer()
        .write_streaming(&path, |sink| sink.write("streamed", &[0; 3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("data has 3 bytes, expected 68"), "{e}");
    assert!(no_files());

    // The producer fails half way.
    let e = streamed_writer()
        .write_streaming(&path, |_| {
            Err(GgufError::Writer {
                msg: "quantizer failed".into(),
            })
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("quantizer failed"), "{e}");
    assert!(no_files());
}
