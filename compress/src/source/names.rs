//! Hugging Face tensor names <-> GGUF tensor names for the llama-family architectures,
//! and the row permutation llama.cpp applies to `llama` q/k projections.

/// GGUF name of an HF decoder tensor, or `None` for names that carry no weight we keep
/// (the rotary tables some checkpoints store).
pub enum Mapped {
    Tensor(String),
    Skip,
    Unknown,
}

const LAYER_PARTS: [(&str, &str); 13] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.bias", "attn_v.bias"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
    ("self_attn.rotary_emb.inv_freq", ""),
];

const GLOBAL: [(&str, &str); 3] = [
    ("model.embed_tokens.weight", "token_embd.weight"),
    ("model.norm.weight", "output_norm.weight"),
    ("lm_head.weight", "output.weight"),
];

/// HF name -> GGUF name.
pub fn to_gguf(hf: &str) -> Mapped {
    if let Some((_, g)) = GLOBAL.iter().find(|(h, _)| *h == hf) {
        return Mapped::Tensor(g.to_string());
    }
    let Some(rest) = hf.strip_prefix("model.layers.") else {
        return Mapped::Unknown;
    };
    let Some((layer, part)) = rest.split_once('.') else {
        return Mapped::Unknown;
    };
    // A layer index must be a number `layer_of` can read back (no 20-digit ones).
    if layer.is_empty()
        || !layer.bytes().all(|b| b.is_ascii_digit())
        || layer.parse::<u32>().is_err()
    {
        return Mapped::Unknown;
    }
    match LAYER_PARTS.iter().find(|(h, _)| *h == part) {
        Some((_, "")) => Mapped::Skip,
        Some((_, g)) => Mapped::Tensor(format!("blk.{layer}.{g}")),
        None => Mapped::Unknown,
    }
}

/// GGUF name -> HF name (used to apply LoRA adapters to a GGUF input).
pub fn to_hf(gguf: &str) -> Option<String> {
    if let Some((h, _)) = GLOBAL.iter().find(|(_, g)| *g == gguf) {
        return Some(h.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let (h, _) = LAYER_PARTS
        .iter()
        .find(|(_, g)| !g.is_empty() && *g == part)?;
    Some(format!("model.layers.{layer}.{h}"))
}

/// Layer index of a `blk.N.` tensor.
pub fn layer_of(gguf: &str) -> Option<usize> {
    gguf.strip_prefix("blk.")?.split_once('.')?.0.parse().ok()
}

/// Where a row of a q/k projection goes in llama.cpp's layout. HF stores each head's
/// rows as [first halves of the rotary pairs.., second halves..] (NeoX rotation); ggml's
/// `llama` rope rotates adjacent pairs, so the converter interleaves the two halves:
/// within a head, row `s * half + j` moves to `2 * j + s`.
fn permuted_row(row: usize, head_dim: usize) -> usize {
    let (head, r) = (row / head_dim, row % head_dim);
    let half = head_dim / 2;
    let (s, j) = (r / half, r % half);
    head * head_dim + 2 * j + s
}

/// Whether a q/k tensor of `dims` (ggml order) splits into `n_heads` heads of an even,
/// non-zero size, as [`permute_rows`] needs; the message says why not.
pub fn check_rope_heads(dims: &[u64], n_heads: usize) -> Result<(), String> {
    // A bias (1-D) permutes its elements; a weight its rows.
    let rows = match dims {
        [n] => *n,
        [_, rest @ ..] => rest.iter().product(),
        [] => 0,
    };
    let n = n_heads as u64;
    if n == 0 || rows == 0 || rows % n != 0 || !(rows / n).is_multiple_of(2) {
        return Err(format!(
            "{rows} rows do not split into {n_heads} heads of an even size (RoPE rotates pairs)"
        ));
    }
    Ok(())
}

/// Rows and columns for the permutation: a bias (one row of `cols` values, checked by
/// [`check_rope_heads`] as 1-D) is a column, one value per row.
fn rows_cols(len: usize, cols: usize) -> (usize, usize) {
    if len == cols {
        (cols, 1)
    } else {
        (len / cols, cols)
    }
}

/// Reorders the rows of a `[n_heads * head_dim, cols]` q/k weight (or a bias) from HF
/// order to llama.cpp's. The shape must have passed [`check_rope_heads`]: a weight of
/// one row cannot (its head size would be below 2), so one row means a bias.
pub fn permute_rows(data: &[f32], cols: usize, n_heads: usize) -> Vec<f32> {
    let (rows, cols) = rows_cols(data.len(), cols);
    let head_dim = rows / n_heads;
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        let to = permuted_row(r, head_dim);
        out[to * cols..(to + 1) * cols].copy_from_slice(&data[r * cols..(r + 1) * cols]);
    }
    out
}

/// The inverse of [`permute_rows`]: llama.cpp's order back to HF's.
pub fn unpermute_rows(data: &[f32], cols: usize, n_heads: usize) -> Vec<f32> {
    let (rows, cols) = rows_cols(data.len(), cols);
    let head_dim = rows / n_heads;
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        let from = permuted_row(r, head_dim);
        out[r * cols..(r + 1) * cols].copy_from_slice(&data[from * cols..(from + 1) * cols]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for hf in [
            "model.embed_tokens.weight",
            "lm_head.weight",
            "model.norm.weight",
            "model.layers.12.self_attn.k_proj.weight",
            "model.layers.0.mlp.down_proj.weight",
            "model.layers.3.self_attn.v_proj.bias",
        ] {
            let Mapped::Tensor(g) = to_gguf(hf) else {
                panic!("{hf} unmapped")
            };
            assert_eq!(to_hf(&g).as_deref(), Some(hf));
        }
        assert!(matches!(
            to_gguf("model.layers.1.self_attn.rotary_emb.inv_freq"),
            Mapped::Skip
        ));
        assert!(matches!(
            to_gguf("model.layers.x.mlp.up_proj.weight"),
            Mapped::Unknown
        ));
        assert!(matches!(to_gguf("vision_tower.w"), Mapped::Unknown));
        assert_eq!(layer_of("blk.17.attn_q.weight"), Some(17));
    }

    /// The converter's numpy form: reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).
    #[test]
    fn permutation_matches_the_converter_reshape() {
        let (n_heads, head_dim, cols) = (3, 8, 2);
        let rows = n_heads * head_dim;
        let data: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let p = permute_rows(&data, cols, n_heads);
        for h in 0..n_heads {
            for j in 0..head_dim / 2 {
                for s in 0..2 {
                    let src = h * head_dim + s * (head_dim / 2) + j;
                    let dst = h * head_dim + j * 2 + s;
                    assert_eq!(
                        p[dst * cols..dst * cols + cols],
                        data[src * cols..src * cols + cols]
                    );
                }
            }
        }
        assert_eq!(unpermute_rows(&p, cols, n_heads), data);
    }
}
