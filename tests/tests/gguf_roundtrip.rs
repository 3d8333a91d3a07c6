//! Writer -> file -> reader round trips: every metadata type (including empty, string
//! and nested arrays) and tensors of several types, at alignments 32 and 64.

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};

/// splitmix64: a tiny deterministic generator for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn all_metadata() -> Vec<(String, MetaValue)> {
    use MetaArray as A;
    use MetaValue as V;
    let arrays = vec![
        A::U8(vec![0, 255]),
        A::I8(vec![-128, 127]),
        A::U16(vec![65535]),
        A::I16(vec![-32768, 1]),
        A::U32(vec![u32::MAX, 0, 5]),
        A::I32(vec![i32::MIN, -1]),
        A::U64(vec![u64::MAX]),
        A::I64(vec![i64::MIN, i64::MAX]),
        A::F32(vec![1.5, -0.0, f32::INFINITY, f32::MIN_POSITIVE]),
        A::F64(vec![std::f64::consts::PI, -1e300]),
        A::Bool(vec![true, false]),
        A::String(["", "tok", "日本"].into_iter().collect()),
        A::Array(vec![
            A::I32(vec![1, 2]),
            A::String(["x"].into_iter().collect()),
            A::Array(vec![A::U8(vec![9])]),
        ]),
    ];
    let empties = vec![
        A::U8(vec![]),
        A::I8(vec![]),
        A::U16(vec![]),
        A::I16(vec![]),
        A::U32(vec![]),
        A::I32(vec![]),
        A::U64(vec![]),
        A::I64(vec![]),
        A::F32(vec![]),
        A::F64(vec![]),
        A::Bool(vec![]),
        A::String(Default::default()),
        A::Array(vec![]),
        A::Array(vec![A::F32(vec![])]),
    ];
    let mut m: Vec<(String, MetaValue)> = vec![
        ("general.architecture".into(), V::String("llama".into())),
        ("s.u8".into(), V::U8(255)),
        ("s.i8".into(), V::I8(-1)),
        ("s.u16".into(), V::U16(1234)),
        ("s.i16".into(), V::I16(-1234)),
        ("s.u32".into(), V::U32(u32::MAX)),
        ("s.i32".into(), V::I32(i32::MIN)),
        ("s.u64".into(), V::U64(u64::MAX)),
        ("s.i64".into(), V::I64(i64::MIN)),
        ("s.f32".into(), V::F32(1e-5)),
        ("s.f64".into(), V::F64(-0.25)),
        ("s.bool".into(), V::Bool(true)),
        ("s.string".into(), V::String("{{ bos_token }} ✓".into())),
        ("s.empty_string".into(), V::String(String::new())),
    ];
    for (i, a) in arrays.into_iter().enumerate() {
        m.push((format!("arr.{i}.{}", a.elem_type_name()), V::Array(a)));
    }
    for (i, a) in empties.into_iter().enumerate() {
        m.push((format!("empty.{i}.{}", a.elem_type_name()), V::Array(a)));
    }
    m
}

fn tensors(rng: &mut Rng) -> Vec<(String, Vec<u64>, GgmlType, Vec<u8>)> {
    let specs: [(&str, &[u64], GgmlType); 7] = [
        ("f32.vec", &[7], GgmlType::F32),
        ("f16.mat", &[5, 3], GgmlType::F16),
        ("bf16.3d", &[2, 3, 4], GgmlType::BF16),
        ("q8_0", &[64, 3], GgmlType::Q8_0),
        ("q4_1.4d", &[32, 2, 1, 2], GgmlType::Q4_1),
        ("q4_k", &[256, 2], GgmlType::Q4_K),
        ("q6_k", &[512], GgmlType::Q6_K),
    ];
    specs
        .iter()
        .map(|&(name, dims, ty)| {
            let n: u64 = dims.iter().product();
            let bytes = ty.row_bytes(n as usize).unwrap();
            (format!("blk.0.{name}"), dims.to_vec(), ty, rng.bytes(bytes))
        })
        .collect()
}

fn round_trip(alignment: Option<u64>) {
    let mut rng = Rng(alignment.unwrap_or(1));
    let meta = all_metadata();
    let ts = tensors(&mut rng);
    let mut w = GgufWriter::new();
    if let Some(a) = alignment {
        w.set_alignment(a);
    }
    for (k, v) in &meta {
        w.add_metadata(k.clone(), v.clone());
    }
    for (name, dims, ty, data) in &ts {
        w.add_tensor(name.clone(), dims.clone(), *ty, data.clone())
            .unwrap();
    }

    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "edgelm-gguf-rt-{}-{}.gguf",
        std::process::id(),
        alignment.unwrap_or(0)
    ));
    w.write(&path).unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(on_disk, w.to_bytes());

    let align = alignment.unwrap_or(32);
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), align);
    assert_eq!(f.data_offset() % align, 0);
    assert_eq!(
        f.file_size() % align,
        0,
        "data section padded to the alignment"
    );
    let mut want = Vec::new();
    if let Some(a) = alignment {
        want.push(("general.alignment".to_string(), MetaValue::U32(a as u32)));
    }
    want.extend(meta.iter().cloned());
    assert_eq!(f.metadata(), &want[..]);
    for (k, v) in &want {
        assert_eq!(f.get(k), Some(v));
    }

    assert_eq!(f.tensors().len(), ts.len());
    for ((name, dims, ty, data), t) in ts.iter().zip(f.tensors()) {
        assert_eq!(&t.name, name);
        assert_eq!(&t.dims, dims);
        assert_eq!(t.ty, *ty);
        assert_eq!(t.n_elements, dims.iter().product::<u64>());
        assert_eq!(t.n_bytes, data.len() as u64);
        assert_eq!(t.offset % align, 0, "{name}");
        assert_eq!(f.tensor_data(t), &data[..], "{name}");
        assert_eq!(f.tensor(name), Some(t));
    }
    // Zero copy: every tensor's slice sits in one buffer, at its offset from the first.
    let first = &f.tensors()[0];
    let base = f.tensor_data(first).as_ptr() as usize;
    for t in f.tensors() {
        let at = f.tensor_data(t).as_ptr() as usize;
        assert_eq!((at - base) as u64, t.offset - first.offset, "{}", t.name);
    }
}

#[test]
fn round_trip_default_alignment() {
    round_trip(None);
}

#[test]
fn round_trip_alignment_64() {
    round_trip(Some(64));
}

#[test]
fn round_trip_large_alignment() {
    round_trip(Some(4096));
}

#[test]
fn wrong_getter_types_name_file_key_and_types() {
    let mut w = GgufWriter::new();
    for (k, v) in all_metadata() {
        w.add_metadata(k, v);
    }
    let f = GgufFile::from_bytes("mem.gguf", w.to_bytes()).unwrap();
    let e = f.get_bool("s.u8").unwrap_err().to_string();
    assert_eq!(
        e,
        "mem.gguf: metadata key 's.u8' has type u8, expected bool"
    );
    let e = f.get_str_array("arr.12.array").unwrap_err().to_string();
    assert!(
        e.contains("array<array>") && e.contains("array<string>"),
        "{e}"
    );
    assert_eq!(f.get_i32_array("empty.5.i32").unwrap(), Some(&[][..]));
    assert_eq!(f.get_u32("s.u32").unwrap(), Some(u32::MAX));
    assert!(f.get_u32("s.u64").is_err());
    assert_eq!(f.get_str("absent").unwrap(), None);
}
