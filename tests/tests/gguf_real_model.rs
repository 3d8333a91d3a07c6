//! The real SmolLM2 GGUF (written by llama.cpp's tools): skipped with a note when absent.

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::GgufFile;

#[test]
fn smollm2_header_matches_known_facts() {
    let path = edgelm_tests::workspace_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        eprintln!(
            "note: {} absent, skipping the real-model GGUF test",
            path.display()
        );
        return;
    }
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.file_size(), 98_362_432);
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(f.get_u32("llama.block_count").unwrap(), Some(30));
    assert_eq!(f.get_u32("llama.embedding_length").unwrap(), Some(576));
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), Some("gpt2"));
    assert_eq!(
        f.get_str_array("tokenizer.ggml.tokens")
            .unwrap()
            .unwrap()
            .len(),
        49152
    );
    assert_eq!(
        f.get_str_array("tokenizer.ggml.merges")
            .unwrap()
            .unwrap()
            .len(),
        48900
    );
    assert_eq!(f.get_u32("tokenizer.ggml.bos_token_id").unwrap(), Some(1));
    assert_eq!(f.get_u32("tokenizer.ggml.eos_token_id").unwrap(), Some(2));

    let ts = f.tensors();
    assert_eq!(ts.len(), 272);
    let count = |ty| ts.iter().filter(|t| t.ty == ty).count();
    assert_eq!(count(GgmlType::Q4_1), 210);
    assert_eq!(count(GgmlType::F32), 61);
    assert_eq!(count(GgmlType::Q8_0), 1);
    let emb = f.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (emb.ty, emb.dims.as_slice()),
        (GgmlType::Q8_0, &[576u64, 49152][..])
    );
    assert!(f.tensor("output.weight").is_none());
    for t in ts {
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes);
        assert_eq!((f.data_offset() + t.offset) % 32, 0);
    }
}
