//! Generation flags shared by `edgelm run` and `edgelm chat`: how many tokens, how to
//! sample them, and what ends an answer (stop strings, end-of-generation tokens).

use anyhow::{bail, Result};
use clap::Args;
use edgelm_runtime::sampler::{Sampler, SamplerConfig};

#[derive(Args, Clone)]
pub struct GenArgs {
    /// Tokens to generate at most; -1: until the end of the text or a full context
    /// (as llama.cpp's -n -1).
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        default_value = "128",
        allow_negative_numbers = true,
        value_parser = parse_n_predict
    )]
    pub n_predict: usize,
    /// Stop before this text appears, even when it spans several tokens; it is not
    /// printed. Repeat for several (-r as llama.cpp's reverse prompt).
    #[arg(
        long,
        short = 'r',
        visible_alias = "reverse-prompt",
        value_name = "STR"
    )]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens (EOS/EOT), up to -n or a full
    /// context.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the k most likely tokens (0: all).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1: all).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than min-p times the most likely one (0: off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalty for tokens seen in the last --repeat-last-n (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// How many recent tokens --repeat-penalty looks at.
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Random seed (default: from the clock). The same seed repeats a run.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `-n`: a count, or -1 for "no limit" (usize::MAX: the context ends it).
fn parse_n_predict(s: &str) -> Result<usize, String> {
    if s.trim() == "-1" {
        return Ok(usize::MAX);
    }
    s.parse::<usize>()
        .map_err(|_| "give a token count (0 or more), or -1 for no limit".to_string())
}

impl GenArgs {
    /// Refuses sampler settings that are out of range or not numbers: a NaN temperature
    /// would sample from NaN probabilities without a word.
    pub fn check(&self) -> Result<()> {
        let checks = [
            ("--temp", self.temp, self.temp >= 0.0, "0 or more"),
            (
                "--top-p",
                self.top_p,
                (0.0..=1.0).contains(&self.top_p),
                "between 0 and 1",
            ),
            (
                "--min-p",
                self.min_p,
                (0.0..=1.0).contains(&self.min_p),
                "between 0 and 1",
            ),
            (
                "--repeat-penalty",
                self.repeat_penalty,
                self.repeat_penalty > 0.0,
                "above 0",
            ),
        ];
        for (flag, v, ok, want) in checks {
            // NaN fails every comparison above, and an infinity is no setting either.
            if !ok || !v.is_finite() {
                bail!("{flag} {v}: must be {want}");
            }
        }
        if self.stop.iter().any(String::is_empty) {
            bail!("--stop \"\": an empty stop string would match nothing");
        }
        Ok(())
    }

    /// The seed: --seed, or the clock's.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(clock_seed)
    }

    pub fn sampler(&self, seed: u64) -> Sampler {
        Sampler::new(SamplerConfig {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            seed,
            ..SamplerConfig::default()
        })
    }
}

pub(crate) fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
