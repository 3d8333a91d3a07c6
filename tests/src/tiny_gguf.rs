//! A complete, runnable `llama` GGUF small enough to write hundreds of times: one layer,
//! width 32, a byte-level BPE vocabulary of 8 tokens with one merge, and a chat template.
//! Cases edit its metadata and tensors as values, then write it.

use std::path::Path;

use edgelm_kernels::quant::GgmlType;
use edgelm_runtime::gguf::{GgufWriter, MetaArray, MetaValue};

pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    pub data: Vec<u8>,
}

pub struct TinyGguf {
    pub meta: Vec<(String, MetaValue)>,
    pub tensors: Vec<Tensor>,
}

pub const D: u64 = 32;
pub const FF: u64 = 64;
pub const TOKENS: [&str; 8] = ["<s>", "</s>", "a", "b", "c", "Ġ", "ab", "Ġa"];

pub fn strings(items: &[&str]) -> MetaValue {
    MetaValue::Array(MetaArray::String(
        items
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into(),
    ))
}

/// Little-endian f32 bytes of `n` small, varied values.
pub fn f32_bytes(n: u64) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (0.02 * ((i * 7 % 13) as f32 - 6.0) / 6.0 + 0.01).to_le_bytes())
        .collect()
}

impl TinyGguf {
    pub fn llama() -> TinyGguf {
        let mut t = TinyGguf {
            meta: Vec::new(),
            tensors: Vec::new(),
        };
        t.set("general.architecture", MetaValue::String("llama".into()));
        for (k, v) in [
            ("block_count", 1u32),
            ("embedding_length", D as u32),
            ("feed_forward_length", FF as u32),
            ("attention.head_count", 4),
            ("attention.head_count_kv", 2),
            ("context_length", 64),
            ("rope.dimension_count", 8),
        ] {
            t.set(&format!("llama.{k}"), MetaValue::U32(v));
        }
        t.set("llama.rope.freq_base", MetaValue::F32(10000.0));
        t.set(
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        );
        t.set("tokenizer.ggml.model", MetaValue::String("gpt2".into()));
        t.set("tokenizer.ggml.pre", MetaValue::String("gpt2".into()));
        t.set("tokenizer.ggml.tokens", strings(&TOKENS));
        t.set(
            "tokenizer.ggml.token_type",
            MetaValue::Array(MetaArray::I32(vec![3, 3, 1, 1, 1, 1, 1, 1])),
        );
        t.set("tokenizer.ggml.merges", strings(&["a b", "Ġ a"]));
        t.set("tokenizer.ggml.bos_token_id", MetaValue::U32(0));
        t.set("tokenizer.ggml.eos_token_id", MetaValue::U32(1));
        t.set(
            "tokenizer.chat_template",
            MetaValue::String(
                "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}\
                 {% if add_generation_prompt %}assistant:{% endif %}"
                    .into(),
            ),
        );
        let vocab = TOKENS.len() as u64;
        for (name, dims) in [
            ("token_embd.weight", vec![D, vocab]),
            ("output_norm.weight", vec![D]),
            ("blk.0.attn_norm.weight", vec![D]),
            ("blk.0.attn_q.weight", vec![D, D]),
            ("blk.0.attn_k.weight", vec![D, D / 2]),
            ("blk.0.attn_v.weight", vec![D, D / 2]),
            ("blk.0.attn_output.weight", vec![D, D]),
            ("blk.0.ffn_norm.weight", vec![D]),
            ("blk.0.ffn_gate.weight", vec![D, FF]),
            ("blk.0.ffn_up.weight", vec![D, FF]),
            ("blk.0.ffn_down.weight", vec![FF, D]),
        ] {
            let n = dims.iter().product();
            t.tensors.push(Tensor {
                name: name.into(),
                dims,
                ty: GgmlType::F32,
                data: f32_bytes(n),
            });
        }
        t
    }

    /// Sets (or adds) a metadata key.
    pub fn set(&mut self, key: &str, v: MetaValue) {
        match self.meta.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.meta.push((key.into(), v)),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.meta.retain(|(k, _)| k != key);
    }

    pub fn tensor(&mut self, name: &str) -> &mut Tensor {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    /// Gives tensor `name` new dimensions (f32 data of the matching size).
    pub fn reshape(&mut self, name: &str, dims: Vec<u64>) {
        let t = self.tensor(name);
        t.data = f32_bytes(dims.iter().product());
        t.ty = GgmlType::F32;
        t.dims = dims;
    }

    /// A well-formed GGUF of these fields (the writer checks each tensor's byte count);
    /// byte-level damage is `gguf_header`'s job.
    pub fn bytes(&self) -> Vec<u8> {
        let mut w = GgufWriter::new();
        for (k, v) in &self.meta {
            w.add_metadata(k.clone(), v.clone());
        }
        for t in &self.tensors {
            w.add_tensor(&t.name, t.dims.clone(), t.ty, t.data.clone())
                .expect("a consistent tensor");
        }
        w.to_bytes()
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).expect("write the case's model");
    }
}
