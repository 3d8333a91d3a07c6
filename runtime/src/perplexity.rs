//! Perplexity as llama.cpp's llama-perplexity computes it: the text is cut into
//! non-overlapping chunks of `n_ctx` tokens, each evaluated from an empty cache, and
//! only the second half of each chunk is scored (so every scored token sees at least
//! `n_ctx / 2` tokens of context).

use crate::error::{Error, Result};
use crate::model::LogitsFor;
use crate::session::Session;

#[derive(Clone, Copy, Debug)]
pub struct PerplexityEstimate {
    pub ppl: f64,
    /// One standard error of the estimate.
    pub error: f64,
    pub chunks: usize,
    pub scored_tokens: usize,
}

/// Scores `tokens` in chunks of the session's context size. `bos`: when set, the first
/// token of every chunk is replaced by it (as llama.cpp does for models that add BOS).
/// `on_chunk` gets the running estimate after each chunk.
pub fn perplexity(
    session: &mut Session,
    tokens: &[u32],
    bos: Option<u32>,
    mut on_chunk: impl FnMut(usize, &PerplexityEstimate),
) -> Result<PerplexityEstimate> {
    let n_ctx = session.n_ctx();
    let n_chunks = tokens.len() / n_ctx;
    if n_chunks == 0 || n_ctx < 4 {
        return Err(Error::Invalid(format!(
            "the text has {} tokens: at least one chunk of --ctx {n_ctx} is needed",
            tokens.len()
        )));
    }
    let vocab = session.model().vocab_size();
    let first = n_ctx / 2;
    let (mut nll, mut nll2, mut count) = (0.0f64, 0.0f64, 0usize);
    let mut est = PerplexityEstimate {
        ppl: 0.0,
        error: 0.0,
        chunks: 0,
        scored_tokens: 0,
    };
    for chunk in 0..n_chunks {
        let mut chunk_tokens = tokens[chunk * n_ctx..(chunk + 1) * n_ctx].to_vec();
        if let Some(b) = bos {
            chunk_tokens[0] = b;
        }
        session.reset();
        let logits = session.eval(&chunk_tokens, LogitsFor::All)?;
        for j in first..n_ctx - 1 {
            let row = &logits[j * vocab..(j + 1) * vocab];
            // The target is the original text's next token, not a substituted BOS.
            let target = tokens[chunk * n_ctx + j + 1] as usize;
            let v = -log_softmax_at(row, target);
            // NaN logits would print `PPL = NaN` as if it were a result.
            if !v.is_finite() {
                return Err(Error::Model {
                    path: session.model().file.path().to_path_buf(),
                    msg: format!(
                        "the model computed a non-finite log-probability in chunk {} (a \
                         weight in the file is not a finite number?)",
                        chunk + 1
                    ),
                });
            }
            nll += v;
            nll2 += v * v;
            count += 1;
        }
        est = estimate(nll, nll2, count, chunk + 1);
        on_chunk(chunk, &est);
    }
    Ok(est)
}

fn estimate(nll: f64, nll2: f64, count: usize, chunks: usize) -> PerplexityEstimate {
    let mean = nll / count as f64;
    let ppl = mean.exp();
    let var = nll2 / count as f64 - mean * mean;
    let error = if var > 0.0 && count > 1 {
        ppl * (var / (count - 1) as f64).sqrt()
    } else {
        0.0
    };
    PerplexityEstimate {
        ppl,
        error,
        chunks,
        scored_tokens: count,
    }
}

/// `log(softmax(row)[i])`, computed in f64.
fn log_softmax_at(row: &[f32], i: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    row[i] as f64 - max - sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_vocab_sized_perplexity() {
        let row = [0.5f32; 8];
        let v = -log_softmax_at(&row, 3);
        let e = estimate(v * 10.0, v * v * 10.0, 10, 1);
        assert!((e.ppl - 8.0).abs() < 1e-9);
        assert_eq!(e.error, 0.0);
    }
}
