//! What the engine has done and holds now, in Prometheus' text format for `/metrics`.

use std::fmt::Write;

use super::request::Finish;

/// Counters since start, and gauges as of the last step.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Finished requests by `finish_reason`: stop, length, cancelled, error.
    pub finished: [u64; 4],
    /// Requests refused at the door (full queue, too long, …).
    pub rejected: u64,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    /// Batched forward passes, and the tokens they held.
    pub steps: u64,
    pub step_tokens: u64,
    pub queued: usize,
    pub active: usize,
    pub slots: usize,
    /// Cache positions in use, and in all (slots × positions per slot).
    pub kv_used: usize,
    pub kv_capacity: usize,
    pub kv_bytes: usize,
    /// Seconds from a request's arrival to its first token.
    pub ttft: Histogram,
    /// Seconds between consecutive tokens of one sequence.
    pub token_latency: Histogram,
}

impl Stats {
    pub(super) fn new(slots: usize, kv_capacity: usize, kv_bytes: usize) -> Stats {
        Stats {
            finished: [0; 4],
            rejected: 0,
            prompt_tokens: 0,
            generated_tokens: 0,
            steps: 0,
            step_tokens: 0,
            queued: 0,
            active: 0,
            slots,
            kv_used: 0,
            kv_capacity,
            kv_bytes,
            ttft: Histogram::new(&TTFT_BUCKETS),
            token_latency: Histogram::new(&TOKEN_BUCKETS),
        }
    }

    pub(super) fn finish(&mut self, f: &Finish) {
        let i = match f {
            Finish::Stop => 0,
            Finish::Length => 1,
            Finish::Cancelled => 2,
            Finish::Error(_) => 3,
        };
        self.finished[i] += 1;
    }

    /// Adds the counters and histograms of `o` (one step's) to these.
    pub(super) fn add(&mut self, o: &Stats) {
        for (a, b) in self.finished.iter_mut().zip(o.finished) {
            *a += b;
        }
        self.rejected += o.rejected;
        self.prompt_tokens += o.prompt_tokens;
        self.generated_tokens += o.generated_tokens;
        self.steps += o.steps;
        self.step_tokens += o.step_tokens;
        self.ttft.add(&o.ttft);
        self.token_latency.add(&o.token_latency);
    }

    /// The Prometheus text exposition of everything above, names prefixed `edgelm_`.
    pub fn prometheus(&self) -> String {
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, String)]| {
            let _ = writeln!(
                o,
                "# HELP edgelm_{name} {help}\n# TYPE edgelm_{name} {kind}"
            );
            for (labels, value) in lines {
                let _ = writeln!(o, "edgelm_{name}{labels} {value}");
            }
        };
        let one = |v: f64| vec![(String::new(), fmt_num(v))];
        let outcomes = ["stop", "length", "cancelled", "error"]
            .iter()
            .zip(self.finished)
            .map(|(o, n)| (format!("{{outcome=\"{o}\"}}"), n.to_string()))
            .chain([(
                "{outcome=\"rejected\"}".to_string(),
                self.rejected.to_string(),
            )])
            .collect::<Vec<_>>();
        metric(
            "requests_total",
            "counter",
            "Requests by outcome: finish_reason of those served, rejected if refused.",
            &outcomes,
        );
        metric(
            "prompt_tokens_total",
            "counter",
            "Prompt tokens read.",
            &one(self.prompt_tokens as f64),
        );
        metric(
            "generated_tokens_total",
            "counter",
            "Tokens generated.",
            &one(self.generated_tokens as f64),
        );
        metric(
            "batch_steps_total",
            "counter",
            "Batched forward passes.",
            &one(self.steps as f64),
        );
        metric(
            "batch_tokens_total",
            "counter",
            "Tokens in all batched forward passes (divide by steps for the mean batch).",
            &one(self.step_tokens as f64),
        );
        metric(
            "queue_depth",
            "gauge",
            "Requests waiting for a slot.",
            &one(self.queued as f64),
        );
        metric(
            "active_sequences",
            "gauge",
            "Requests holding a slot (reading the prompt or generating).",
            &one(self.active as f64),
        );
        metric(
            "slots",
            "gauge",
            "KV cache slots (--parallel).",
            &one(self.slots as f64),
        );
        metric(
            "kv_cache_used_positions",
            "gauge",
            "KV cache positions in use, all slots together.",
            &one(self.kv_used as f64),
        );
        metric(
            "kv_cache_capacity_positions",
            "gauge",
            "KV cache positions in all slots.",
            &one(self.kv_capacity as f64),
        );
        metric(
            "kv_cache_bytes",
            "gauge",
            "Bytes reserved for the KV cache.",
            &one(self.kv_bytes as f64),
        );
        self.ttft.write(
            &mut o,
            "time_to_first_token_seconds",
            "From arrival to the first token.",
        );
        self.token_latency.write(
            &mut o,
            "token_latency_seconds",
            "Between consecutive tokens of one request.",
        );
        o
    }
}

const TTFT_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const TOKEN_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
];

/// A Prometheus histogram: cumulative counts per upper bound, sum and count.
#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    fn add(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.sum += o.sum;
        self.count += o.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    fn write(&self, o: &mut String, name: &str, help: &str) {
        let _ = writeln!(
            o,
            "# HELP edgelm_{name} {help}\n# TYPE edgelm_{name} histogram"
        );
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c;
            let _ = writeln!(o, "edgelm_{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(o, "edgelm_{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(o, "edgelm_{name}_sum {}", fmt_num(self.sum));
        let _ = writeln!(o, "edgelm_{name}_count {}", self.count);
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_text_parses() {
        let mut s = Stats::new(4, 2048, 1 << 20);
        for v in [0.003, 0.003, 0.03, 100.0] {
            s.token_latency.observe(v);
        }
        s.finish(&Finish::Stop);
        s.finish(&Finish::Cancelled);
        let text = s.prometheus();
        assert!(text.contains("edgelm_token_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("edgelm_token_latency_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("edgelm_token_latency_seconds_bucket{le=\"0.04\"} 3\n"));
        assert!(text.contains("edgelm_token_latency_seconds_bucket{le=\"2.56\"} 3\n"));
        assert!(text.contains("edgelm_token_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("edgelm_token_latency_seconds_count 4\n"));
        assert!(text.contains("edgelm_requests_total{outcome=\"cancelled\"} 1\n"));
        assert!(text.contains("edgelm_kv_cache_capacity_positions 2048\n"));
        // Every sample line is `name{labels} value` with a number for the value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("edgelm_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
