//! Picks the next token from logits: greedy, or llama.cpp's chain of penalties
//! (repeat, frequency, presence), top-k, top-p, min-p and temperature followed by a seeded draw.

/// Sampling settings; the defaults are llama.cpp's.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// 0 (or below) means greedy.
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// 1.0 disables.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub repeat_last_n: usize,
    /// OpenAI's `frequency_penalty`: subtracted from a token's logit once per time it
    /// occurs in the window. 0.0 disables.
    pub frequency_penalty: f32,
    /// OpenAI's `presence_penalty`: subtracted once from the logit of every token in
    /// the window. 0.0 disables.
    pub presence_penalty: f32,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        }
    }
}

pub struct Sampler {
    cfg: SamplerConfig,
    rng: SplitMix64,
    recent: Vec<u32>,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Sampler {
        Sampler {
            rng: SplitMix64(cfg.seed),
            cfg,
            recent: Vec::new(),
        }
    }

    /// Records a token (prompt or generated) for the penalties.
    pub fn accept(&mut self, token: u32) {
        self.recent.push(token);
        let keep = self.cfg.repeat_last_n;
        if self.recent.len() > keep.max(1) * 2 {
            self.recent.drain(..self.recent.len() - keep);
        }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let mut logits = logits.to_vec();
        self.apply_penalties(&mut logits);
        if self.cfg.temperature <= 0.0 {
            return argmax(&logits);
        }
        let mut cands = top_candidates(&logits, self.cfg.top_k);
        // top-p and min-p on the untempered distribution, as llama.cpp orders them.
        let probs = softmax_of(&cands, 1.0);
        if self.cfg.top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = cands.len();
            for (i, p) in probs.iter().enumerate() {
                cum += p;
                if cum >= self.cfg.top_p {
                    keep = i + 1;
                    break;
                }
            }
            cands.truncate(keep);
        }
        if self.cfg.min_p > 0.0 {
            let threshold = probs[0] * self.cfg.min_p;
            let keep = probs[..cands.len()]
                .iter()
                .take_while(|&&p| p >= threshold)
                .count()
                .max(1);
            cands.truncate(keep);
        }
        let probs = softmax_of(&cands, self.cfg.temperature);
        let r = self.rng.next_f64();
        let mut cum = 0.0;
        for (c, p) in cands.iter().zip(&probs) {
            cum += *p as f64;
            if r < cum {
                return c.0;
            }
        }
        cands.last().map_or(0, |c| c.0)
    }

    /// llama.cpp's penalties sampler: every token in the last `repeat_last_n` accepted
    /// has its logit divided (positive) or multiplied (negative) by `repeat_penalty`,
    /// then lowered by `count * frequency_penalty + presence_penalty`.
    fn apply_penalties(&self, logits: &mut [f32]) {
        let cfg = &self.cfg;
        let (penalty, freq, pres) = (
            cfg.repeat_penalty,
            cfg.frequency_penalty,
            cfg.presence_penalty,
        );
        if cfg.repeat_last_n == 0 || (penalty == 1.0 && freq == 0.0 && pres == 0.0) {
            return;
        }
        let start = self.recent.len().saturating_sub(cfg.repeat_last_n);
        let mut window: Vec<u32> = self.recent[start..].to_vec();
        window.sort_unstable();
        // Sorted, so each token's occurrences form one run: its length is the count.
        for run in window.chunk_by(|a, b| a == b) {
            let Some(l) = logits.get_mut(run[0] as usize) else {
                continue;
            };
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
            // Skipped when off, so that the repeat penalty alone stays bit-identical
            // to what it was before these two existed.
            if freq != 0.0 || pres != 0.0 {
                // Summed first, in f32, as llama.cpp does.
                *l -= run.len() as f32 * freq + pres;
            }
        }
    }
}

/// Candidate order: larger logit first, then smaller id (a total order, so the
/// result does not depend on how it is reached).
fn best_first(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `k` best (id, logit) pairs in [`best_first`] order (all of them when `k` is 0).
/// Only the `k` kept are sorted: a full sort of a 50k vocabulary was most of the time
/// to the first token's draw.
fn top_candidates(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut cands: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    if k > 0 && k < cands.len() {
        cands.select_nth_unstable_by(k - 1, best_first);
        cands.truncate(k);
    }
    cands.sort_unstable_by(best_first);
    cands
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    // The first index of the largest value (NaNs never win; 0 if all are NaN or
    // there are none). Block maxima first, each a lane-wise max that compiles to SIMD
    // (a vocabulary is tens of thousands of logits, every token); then the first
    // block holding the maximum is searched.
    const BLOCK: usize = 256;
    let block_max = |b: &[f32]| {
        let mut lanes = [f32::NEG_INFINITY; 16];
        let mut chunks = b.chunks_exact(16);
        for c in &mut chunks {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = m.max(v);
            }
        }
        let tail = chunks.remainder().iter().copied();
        lanes
            .into_iter()
            .chain(tail)
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let maxima: Vec<f32> = logits.chunks(BLOCK).map(block_max).collect();
    let max = maxima.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let Some(b) = maxima.iter().position(|&m| m == max) else {
        return 0;
    };
    let at = logits[b * BLOCK..].iter().position(|&l| l == max);
    at.map_or(0, |i| (b * BLOCK + i) as u32)
}

fn softmax_of(cands: &[(u32, f32)], temperature: f32) -> Vec<f32> {
    let max = cands.first().map_or(0.0, |c| c.1);
    let mut p: Vec<f32> = cands
        .iter()
        .map(|c| ((c.1 - max) / temperature).exp())
        .collect();
    let sum: f32 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= sum);
    p
}

/// Small, fast, seedable generator (Steele et al.'s SplitMix64).
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f32) -> SamplerConfig {
        SamplerConfig {
            temperature,
            seed: 7,
            ..SamplerConfig::default()
        }
    }

    #[test]
    fn argmax_is_the_first_index_of_the_largest_value() {
        // The plain definition, NaNs skipped.
        let naive = |v: &[f32]| {
            let mut best: Option<usize> = None;
            for (i, &l) in v.iter().enumerate() {
                if !l.is_nan() && best.is_none_or(|b| l > v[b]) {
                    best = Some(i);
                }
            }
            best.unwrap_or(0) as u32
        };
        let mut rng = SplitMix64::new(3);
        for len in [0, 1, 15, 16, 17, 255, 256, 257, 1000, 49152] {
            for case in 0..4 {
                // Few distinct values, so that the maximum repeats.
                let mut v: Vec<f32> = (0..len)
                    .map(|_| (rng.next_f64() * 8.0).floor() as f32)
                    .collect();
                if case == 1 && len > 3 {
                    v[0] = f32::NAN;
                    v[len / 2] = f32::NAN;
                }
                if case == 2 {
                    v.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
                }
                if case == 3 && len > 0 {
                    v[len - 1] = 100.0;
                }
                assert_eq!(argmax(&v), naive(&v), "len {len}, case {case}");
            }
        }
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
    }

    #[test]
    fn top_candidates_equal_a_full_sort_cut_to_k() {
        let mut rng = SplitMix64::new(5);
        // Few distinct values, so ties (broken by id) are common; NaN and infinities too.
        let mut logits: Vec<f32> = (0..3000)
            .map(|_| (rng.next_u64() % 50) as f32 / 4.0)
            .collect();
        logits[7] = f32::NAN;
        logits[100] = f32::INFINITY;
        logits[200] = f32::NEG_INFINITY;
        let mut full: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        full.sort_by(best_first);
        let bits = |v: &[(u32, f32)]| v.iter().map(|&(i, l)| (i, l.to_bits())).collect::<Vec<_>>();
        for k in [0, 1, 2, 40, 2999, 3000, 5000] {
            let want = &full[..if k == 0 {
                full.len()
            } else {
                k.min(full.len())
            }];
            assert_eq!(bits(&top_candidates(&logits, k)), bits(want), "k = {k}");
        }
    }

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut s = Sampler::new(cfg(0.0));
        assert_eq!(s.sample(&[0.1, 2.0, -1.0, 1.9]), 1);
    }

    #[test]
    fn same_seed_same_tokens_and_draws_follow_probabilities() {
        let logits = [1.0f32, 1.5, 0.5, 1.2];
        let draw = |seed| {
            let mut s = Sampler::new(SamplerConfig {
                seed,
                min_p: 0.0,
                top_p: 1.0,
                temperature: 1.0,
                ..SamplerConfig::default()
            });
            (0..4000).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        let a = draw(3);
        assert_eq!(a, draw(3));
        assert_ne!(a, draw(4));
        // Frequencies follow softmax(logits) within a few percent.
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        for (i, l) in logits.iter().enumerate() {
            let freq = a.iter().filter(|&&t| t as usize == i).count() as f32 / a.len() as f32;
            assert!((freq - l.exp() / z).abs() < 0.03, "token {i}: {freq}");
        }
    }

    #[test]
    fn top_k_one_and_min_p_restrict_the_draw() {
        let logits = [0.0f32, 5.0, 4.9, -3.0];
        let mut s = Sampler::new(SamplerConfig {
            top_k: 1,
            ..cfg(1.5)
        });
        assert!((0..100).all(|_| s.sample(&logits) == 1));
        // min_p 0.5: token 3 (p ~ 1e-4 of the top) never appears, 1 and 2 both do.
        let mut s = Sampler::new(SamplerConfig {
            top_k: 0,
            min_p: 0.5,
            ..cfg(1.0)
        });
        let drawn: Vec<u32> = (0..400).map(|_| s.sample(&logits)).collect();
        assert!(drawn.contains(&1) && drawn.contains(&2));
        assert!(!drawn.contains(&0) && !drawn.contains(&3));
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        // probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps two tokens.
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let mut s = Sampler::new(SamplerConfig {
            top_k: 0,
            min_p: 0.0,
            top_p: 0.8,
            ..cfg(1.0)
        });
        let drawn: Vec<u32> = (0..500).map(|_| s.sample(&logits)).collect();
        assert!(drawn.contains(&0) && drawn.contains(&1));
        assert!(!drawn.contains(&2) && !drawn.contains(&3));
    }

    #[test]
    fn repeat_penalty_divides_positive_and_multiplies_negative_logits() {
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            ..cfg(0.0)
        });
        s.accept(0);
        // token 0: 3.0 -> 1.5, below token 1's 2.0.
        assert_eq!(s.sample(&[3.0, 2.0]), 1);
        s.accept(1);
        // both penalized: 1.5 vs 1.0
        assert_eq!(s.sample(&[3.0, 2.0]), 0);
        let mut logits = [-1.0f32, 0.5];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [-2.0, 0.25]);
    }

    /// What llama.cpp's penalties sampler does to one logit of a token seen `count`
    /// times in the window, written out plainly.
    fn penalized(l: f32, count: usize, cfg: &SamplerConfig) -> f32 {
        if count == 0 {
            return l;
        }
        let l = if l <= 0.0 {
            l * cfg.repeat_penalty
        } else {
            l / cfg.repeat_penalty
        };
        l - (count as f32 * cfg.frequency_penalty + cfg.presence_penalty)
    }

    #[test]
    fn frequency_and_presence_penalties_lower_window_tokens_by_their_counts() {
        let logits = [1.0f32, 3.0, -1.0, 0.5, 2.0, 4.0, -2.0, 0.0];
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            frequency_penalty: 0.5,
            presence_penalty: 0.25,
            ..cfg(0.0)
        });
        // 1 three times, 2 once, 5 twice, 100 (outside the vocabulary) ignored.
        for t in [1, 5, 1, 2, 100, 1, 5] {
            s.accept(t);
        }
        let mut got = logits;
        s.apply_penalties(&mut got);
        // 1: 3/2 - (3*0.5 + 0.25); 2: -1*2 - (0.5 + 0.25); 5: 4/2 - (2*0.5 + 0.25).
        assert_eq!(got, [1.0, -0.25, -2.75, 0.5, 2.0, 0.75, -2.0, 0.0]);

        // Each on its own, the repeat penalty off.
        for (freq, pres, want) in [
            (1.0, 0.0, [1.0f32, 0.0, -2.0, 0.5, 2.0, 2.0, -2.0, 0.0]),
            (0.0, 1.5, [1.0f32, 1.5, -2.5, 0.5, 2.0, 2.5, -2.0, 0.0]),
            // Negative values (OpenAI allows down to -2) raise the logits instead.
            (-0.5, 0.0, [1.0f32, 4.5, -0.5, 0.5, 2.0, 5.0, -2.0, 0.0]),
        ] {
            let mut s2 = Sampler::new(SamplerConfig {
                frequency_penalty: freq,
                presence_penalty: pres,
                ..cfg(0.0)
            });
            for t in [1, 5, 1, 2, 1, 5] {
                s2.accept(t);
            }
            let mut got = logits;
            s2.apply_penalties(&mut got);
            assert_eq!(got, want, "frequency {freq}, presence {pres}");
        }
        // A frequency penalty turns greedy away from the repeated token.
        assert_eq!(s.sample(&[0.0, 1.0, 0.0]), 0);
    }

    #[test]
    fn penalties_count_only_the_last_repeat_last_n_tokens() {
        let mut rng = SplitMix64::new(11);
        for last_n in [1usize, 3, 8] {
            let c = SamplerConfig {
                repeat_penalty: 1.25,
                frequency_penalty: 0.375,
                presence_penalty: 0.5,
                repeat_last_n: last_n,
                ..cfg(0.0)
            };
            let mut s = Sampler::new(c.clone());
            let mut history = Vec::new();
            // Long enough to go through `accept`'s trimming of `recent` several times.
            for _ in 0..60 {
                let t = (rng.next_u64() % 6) as u32;
                s.accept(t);
                history.push(t);
                let window = &history[history.len().saturating_sub(last_n)..];
                let logits: Vec<f32> = (0..6)
                    .map(|_| (rng.next_u64() % 17) as f32 / 4.0 - 2.0)
                    .collect();
                let mut got = logits.clone();
                s.apply_penalties(&mut got);
                for (id, (&l, &g)) in logits.iter().zip(&got).enumerate() {
                    let count = window.iter().filter(|&&w| w as usize == id).count();
                    let want = penalized(l, count, &c);
                    assert_eq!(g.to_bits(), want.to_bits(), "last_n {last_n}, token {id}");
                }
            }
        }
        // repeat_last_n 0 turns all of them off.
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            frequency_penalty: 1.0,
            presence_penalty: 1.0,
            repeat_last_n: 0,
            ..cfg(0.0)
        });
        s.accept(0);
        let mut l = [1.0f32, 2.0];
        s.apply_penalties(&mut l);
        assert_eq!(l, [1.0, 2.0]);
    }

    #[test]
    fn zero_frequency_and_presence_penalties_change_nothing() {
        // The repeat penalty as it was before the other two: each distinct token in
        // the window once.
        let repeat_only = |recent: &[u32], c: &SamplerConfig, logits: &mut [f32]| {
            let start = recent.len().saturating_sub(c.repeat_last_n);
            let mut seen = recent[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                let l = &mut logits[id as usize];
                *l = if *l > 0.0 {
                    *l / c.repeat_penalty
                } else {
                    *l * c.repeat_penalty
                };
            }
        };
        let mut rng = SplitMix64::new(13);
        for penalty in [1.0f32, 1.1, 1.3, 2.0] {
            let c = SamplerConfig {
                repeat_penalty: penalty,
                repeat_last_n: 5,
                ..cfg(0.9)
            };
            let mut s = Sampler::new(c.clone());
            let mut reference = Sampler::new(SamplerConfig {
                repeat_penalty: 1.0,
                ..c.clone()
            });
            for _ in 0..200 {
                let logits: Vec<f32> = (0..32)
                    .map(|_| (rng.next_f64() * 6.0 - 3.0) as f32)
                    .collect();
                let mut want = logits.clone();
                repeat_only(&s.recent, &c, &mut want);
                let mut got = logits.clone();
                s.apply_penalties(&mut got);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want));
                // Same draw as a sampler with no penalties given the penalized logits.
                let t = s.sample(&logits);
                assert_eq!(t, reference.sample(&want));
                s.accept(t);
            }
        }
    }
}
