//! Reads a file written by gguf-py (an independent implementation) and checks every
//! metadata value and tensor against what the script that wrote it recorded
//! (tests/fixtures/gguf/make_gguf_fixture.py -> interop.gguf + interop.json).

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::{GgufFile, GgufWriter, MetaArray, MetaValue};
use serde_json::Value;

fn fixture() -> (GgufFile, Value) {
    let dir = edgelm_tests::fixtures_dir().join("gguf");
    let file = GgufFile::open(dir.join("interop.gguf")).expect("open interop.gguf");
    let json = std::fs::read_to_string(dir.join("interop.json")).expect("read interop.json");
    (
        file,
        serde_json::from_str(&json).expect("parse interop.json"),
    )
}

fn ints<T: TryFrom<i128>>(v: &Value) -> Vec<T> {
    v.as_array()
        .expect("json array")
        .iter()
        .map(|x| {
            let i = x
                .as_i64()
                .map(i128::from)
                .or(x.as_u64().map(i128::from))
                .expect("json integer");
            T::try_from(i).ok().expect("integer in range")
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `{"<elem type>": [...]}` as written by the script.
fn json_array(v: &Value) -> MetaArray {
    let (ty, items) = v.as_object().unwrap().iter().next().unwrap();
    let floats = || {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
    };
    match ty.as_str() {
        "u8" => MetaArray::U8(ints(items)),
        "i8" => MetaArray::I8(ints(items)),
        "u16" => MetaArray::U16(ints(items)),
        "i16" => MetaArray::I16(ints(items)),
        "u32" => MetaArray::U32(ints(items)),
        "i32" => MetaArray::I32(ints(items)),
        "u64" => MetaArray::U64(ints(items)),
        "i64" => MetaArray::I64(ints(items)),
        "f32" => MetaArray::F32(floats().map(|x| x as f32).collect()),
        "f64" => MetaArray::F64(floats().collect()),
        "bool" => MetaArray::Bool(
            items
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect(),
        ),
        "string" => MetaArray::String(strings(items).into()),
        "array" => MetaArray::Array(items.as_array().unwrap().iter().map(json_array).collect()),
        other => panic!("unknown json array type {other}"),
    }
}

fn json_value(ty: &str, v: &Value) -> MetaValue {
    let int = |v: &Value| {
        v.as_i64()
            .map(i128::from)
            .or(v.as_u64().map(i128::from))
            .unwrap()
    };
    match ty {
        "u8" => MetaValue::U8(int(v) as u8),
        "i8" => MetaValue::I8(int(v) as i8),
        "u16" => MetaValue::U16(int(v) as u16),
        "i16" => MetaValue::I16(int(v) as i16),
        "u32" => MetaValue::U32(int(v) as u32),
        "i32" => MetaValue::I32(int(v) as i32),
        "u64" => MetaValue::U64(int(v) as u64),
        "i64" => MetaValue::I64(int(v) as i64),
        "f32" => MetaValue::F32(v.as_f64().unwrap() as f32),
        "f64" => MetaValue::F64(v.as_f64().unwrap()),
        "bool" => MetaValue::Bool(v.as_bool().unwrap()),
        "string" => MetaValue::String(v.as_str().unwrap().to_string()),
        "array" => MetaValue::Array(json_array(v)),
        other => panic!("unknown json type {other}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_every_value_gguf_py_wrote() {
    let (f, j) = fixture();
    assert_eq!(f.version() as u64, j["version"].as_u64().unwrap());
    assert_eq!(f.alignment(), j["alignment"].as_u64().unwrap());
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset(), j["data_offset"].as_u64().unwrap());
    assert_eq!(f.file_size(), j["file_size"].as_u64().unwrap());

    let expected: Vec<(String, MetaValue)> = j["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = e["key"].as_str().unwrap().to_string();
            (key, json_value(e["type"].as_str().unwrap(), &e["value"]))
        })
        .collect();
    assert_eq!(expected.len(), 30);
    assert_eq!(f.metadata(), &expected[..]);
    for (key, value) in &expected {
        assert_eq!(f.get(key), Some(value), "{key}");
    }

    // Typed getters on values of each kind.
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(f.get_u32("test.u16").unwrap(), Some(60000));
    assert_eq!(f.get_u64("test.u64").unwrap(), Some(u64::MAX));
    assert!(f.get_u32("test.i8").is_err());
    assert_eq!(f.get_f32("test.f32").unwrap(), Some(3.140625));
    assert_eq!(f.get_f32("test.f64").unwrap(), Some(0.1f32));
    assert_eq!(f.get_bool("test.bool_true").unwrap(), Some(true));
    assert_eq!(f.get_str("test.string").unwrap(), Some("héllo, GGUF ✓"));
    assert_eq!(
        *f.get_str_array("test.arr.string").unwrap().unwrap(),
        ["a", "", "<|im_end|>", "Ġthe"]
    );
    assert_eq!(
        f.get_f32_array("test.arr.f32").unwrap().unwrap(),
        [0.5, -1.25, 1e-5]
    );
    assert_eq!(
        f.get_i32_array("test.arr.i32").unwrap().unwrap(),
        [i32::MIN, i32::MAX, 7]
    );

    let tensors = j["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), tensors.len());
    assert_eq!(tensors.len(), 6);
    for (t, e) in f.tensors().iter().zip(tensors) {
        assert_eq!(t.name, e["name"].as_str().unwrap());
        let dims: Vec<u64> = ints(&e["dims"]);
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(
            t.ty,
            GgmlType::from_name(e["type"].as_str().unwrap()).unwrap()
        );
        assert_eq!(t.n_elements, e["n_elements"].as_u64().unwrap());
        assert_eq!(t.n_bytes, e["n_bytes"].as_u64().unwrap());
        assert_eq!(t.offset, e["offset"].as_u64().unwrap());
        assert_eq!(
            f.tensor_data(t),
            hex(e["data_hex"].as_str().unwrap()),
            "{}",
            t.name
        );
        assert_eq!(f.tensor(&t.name), Some(t));
    }
    let q = f.tensor("t.q4_0.3d").unwrap();
    assert_eq!(
        (q.dims.as_slice(), q.ty),
        (&[32u64, 2, 2][..], GgmlType::Q4_0)
    );
}

/// Our writer, given what gguf-py wrote, reproduces its file byte for byte.
#[test]
fn writer_reproduces_gguf_py_bytes() {
    let (f, _) = fixture();
    let mut w = GgufWriter::new();
    for (k, v) in f.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    for t in f.tensors() {
        w.add_tensor(
            t.name.clone(),
            t.dims.clone(),
            t.ty,
            f.tensor_data(t).to_vec(),
        )
        .unwrap();
    }
    let original = std::fs::read(f.path()).unwrap();
    assert_eq!(w.to_bytes(), original);
}
