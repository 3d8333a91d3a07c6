//! One request being served: its cache slot, where it is in its prompt, its sampler,
//! and the text on its way out (whole characters, stop strings held back).

use std::time::Instant;

use crate::kv_cache::KvCache;
use crate::model::Segment;
use crate::sampler::Sampler;
use crate::stop::StopStrings;
use crate::tokenizer::{TextStream, Tokenizer};

use super::request::{Event, Finish, Outcome, Request};

pub(super) struct Sequence {
    req: Request,
    /// This sequence's cache, lent from the engine's free slots until it ends.
    pub kv: KvCache,
    /// Positions in the cache: prompt tokens read, then generated tokens fed back.
    pos: usize,
    /// The last sampled token, fed at the next step (once the prompt is read).
    next: [u32; 1],
    sampler: Sampler,
    text: TextStream,
    stop: StopStrings,
    generated: usize,
    arrived: Instant,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
}

/// What a step did to a sequence.
pub(super) enum Stepped {
    /// It goes on; `Some(gap)`: a token came, `gap` seconds after the one before.
    Running(Option<f64>),
    /// It ended: give its slot back.
    Done(Outcome),
}

impl Sequence {
    pub fn new(req: Request, kv: KvCache, arrived: Instant) -> Sequence {
        let mut sampler = Sampler::new(req.sampler.clone());
        for &t in &req.prompt {
            sampler.accept(t);
        }
        Sequence {
            stop: StopStrings::new(req.stop.iter().cloned()),
            req,
            kv,
            pos: 0,
            next: [0],
            sampler,
            text: TextStream::default(),
            generated: 0,
            arrived,
            first_token: None,
            last_token: None,
        }
    }

    /// Prompt tokens not read yet.
    pub fn prompt_left(&self) -> usize {
        self.req.prompt.len().saturating_sub(self.pos)
    }

    /// Positions of the cache in use.
    pub fn used(&self) -> usize {
        self.pos
    }

    pub fn is_closed(&self) -> bool {
        self.req.sink.is_closed()
    }

    /// The tokens this step feeds: up to `chunk` more of the prompt, or the token
    /// sampled last.
    pub fn segment(&mut self, chunk: usize) -> Segment<'_> {
        let tokens = match self.prompt_left() {
            0 => &self.next[..],
            left => &self.req.prompt[self.pos..self.pos + left.min(chunk)],
        };
        Segment {
            tokens,
            pos0: self.pos,
            kv: &mut self.kv,
        }
    }

    /// After a step that fed `n` tokens: samples from `logits` once the prompt is
    /// read, and sends what the sampled token adds to the text.
    pub fn advance(&mut self, n: usize, logits: &[f32], tok: &Tokenizer) -> Stepped {
        self.pos += n;
        if self.prompt_left() > 0 {
            return Stepped::Running(None);
        }
        if logits.iter().any(|l| l.is_nan()) {
            let msg = format!(
                "the model computed NaN logits after {} tokens (a weight in the file is not \
                 a finite number?)",
                self.pos
            );
            return self.end(Finish::Error(msg));
        }
        let token = self.sampler.sample(logits);
        self.sampler.accept(token);
        self.generated += 1;
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        let gap = self
            .last_token
            .replace(now)
            .map(|t| (now - t).as_secs_f64());
        if tok.is_eog(token) && !self.req.ignore_eos {
            return self.flush_and_end(Finish::Stop);
        }
        let piece = self.text.push(&tok.decode_token(token));
        if !self.emit(&piece) {
            return self.end(Finish::Cancelled);
        }
        if self.stop.matched().is_some() {
            return self.end(Finish::Stop);
        }
        let limit = self.req.max_tokens.unwrap_or(usize::MAX);
        // The sampled token needs a cache position to be fed back.
        if self.generated >= limit || self.pos >= self.kv.n_ctx() {
            return self.flush_and_end(Finish::Length);
        }
        self.next = [token];
        Stepped::Running(gap)
    }

    /// Ends without another token: the client left, or the engine stops.
    pub fn cancel(&mut self) -> Outcome {
        match self.end(Finish::Cancelled) {
            Stepped::Done(o) => o,
            Stepped::Running(_) => unreachable!("end always ends"),
        }
    }

    /// Sends `piece` through the stop strings; false if the client is gone.
    fn emit(&mut self, piece: &str) -> bool {
        let pushed = self.stop.push(piece);
        pushed.text.is_empty() || self.req.sink.send(Event::Text(pushed.text))
    }

    /// Sends the text held back (an incomplete character, a possible stop string's
    /// start), then ends; a stop string completed by that text makes it a `Stop`.
    fn flush_and_end(&mut self, finish: Finish) -> Stepped {
        let tail = self.text.finish();
        if !self.emit(&tail) {
            return self.end(Finish::Cancelled);
        }
        if self.stop.matched().is_some() {
            return self.end(Finish::Stop);
        }
        let held = self.stop.finish();
        if !held.is_empty() && !self.req.sink.send(Event::Text(held)) {
            return self.end(Finish::Cancelled);
        }
        self.end(finish)
    }

    fn end(&mut self, finish: Finish) -> Stepped {
        let now = Instant::now();
        let ms = |t: Instant| (t - self.arrived).as_secs_f64() * 1000.0;
        let outcome = Outcome {
            finish,
            prompt_tokens: self.req.prompt.len(),
            completion_tokens: self.generated,
            ttft_ms: self.first_token.map_or(0.0, ms),
            total_ms: ms(now),
        };
        // The client may be gone already; the outcome is counted either way.
        self.req.sink.send(Event::Done(outcome.clone()));
        Stepped::Done(outcome)
    }

    pub fn ttft_s(&self) -> Option<f64> {
        self.first_token.map(|t| (t - self.arrived).as_secs_f64())
    }

    pub fn generated(&self) -> usize {
        self.generated
    }
}
