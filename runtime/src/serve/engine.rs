//! The engine: a handle that takes requests, and the scheduler thread that serves
//! them in batched steps (see the module documentation).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgelm_kernels::cpu::{Precision, ThreadPool};

use crate::error::{Error, Result};
use crate::kv_cache::{KvCache, KvType};
use crate::model::{LogitsFor, Model, Scratch};
use crate::session::{check_kv_fits, worker_pool};
use crate::tokenizer::Tokenizer;

use super::request::{Rejected, Request};
use super::sequence::{Sequence, Stepped};
use super::stats::Stats;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Sequences served at once, each with its own slot of the KV cache.
    pub parallel: usize,
    /// Context positions of all slots together, split evenly between them, as
    /// llama-server's `-c` with `-np`; 0: min(model context, 4096), as `edgelm run`.
    pub n_ctx: usize,
    /// Prompt tokens read per step, all sequences together.
    pub n_batch: usize,
    /// Worker threads of the forward passes (0: one per logical CPU).
    pub threads: usize,
    pub kv_type: KvType,
    pub precision: Precision,
    /// Requests that may wait for a slot; more are refused.
    pub max_queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            parallel: 4,
            n_ctx: 0,
            n_batch: 64,
            threads: 0,
            kv_type: KvType::F16,
            precision: Precision::Fast,
            max_queue: 64,
        }
    }
}

/// A running scheduler over one model. Dropping it cancels whatever is still
/// running or waiting and stops the thread.
pub struct Engine {
    tx: Option<Sender<(Request, Instant)>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    slot_ctx: usize,
    threads: usize,
    vocab: usize,
}

struct Shared {
    /// Requests sent to the thread that have not taken a slot yet.
    queued: AtomicUsize,
    max_queue: usize,
    stats: Mutex<Stats>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        // Plain counters: a panic mid-update leaves them usable.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Engine {
    /// Sizes the KV cache (all of it now, so a full server cannot run out of memory
    /// later), starts the worker pool and the scheduler thread.
    pub fn start(
        model: Arc<Model>,
        tokenizer: Arc<Tokenizer>,
        cfg: &EngineConfig,
    ) -> Result<Engine> {
        if cfg.parallel == 0 {
            return Err(Error::Invalid(
                "--parallel 0: at least one slot is needed".into(),
            ));
        }
        let train = model.config.n_ctx_train;
        let total = match cfg.n_ctx {
            0 => train.min(4096),
            n => n,
        };
        let slot_ctx = total / cfg.parallel;
        if slot_ctx > train {
            return Err(Error::Invalid(format!(
                "--ctx {total} split between --parallel {} slots gives {slot_ctx} positions \
                 each, more than the model's context length {train}",
                cfg.parallel
            )));
        }
        if slot_ctx < 2 {
            return Err(Error::Invalid(format!(
                "--ctx {total} split between --parallel {} slots leaves {slot_ctx} positions \
                 each; raise --ctx or lower --parallel",
                cfg.parallel
            )));
        }
        check_kv_fits(&model, cfg.parallel, slot_ctx, cfg.kv_type)?;
        let c = &model.config;
        let slots: Vec<KvCache> = (0..cfg.parallel)
            .map(|_| KvCache::new(cfg.kv_type, c.n_layer, slot_ctx, c.kv_dim()))
            .collect();
        let kv_bytes = slots.iter().map(KvCache::bytes).sum();
        let pool = worker_pool(cfg.threads)?;
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            max_queue: cfg.max_queue,
            stats: Mutex::new(Stats::new(cfg.parallel, cfg.parallel * slot_ctx, kv_bytes)),
        });
        let (tx, rx) = channel();
        let threads = pool.threads();
        let vocab = model.vocab_size();
        let scheduler = Scheduler {
            model,
            tokenizer,
            pool,
            precision: cfg.precision,
            n_batch: cfg.n_batch.max(1),
            free: slots,
            queue: VecDeque::new(),
            active: Vec::new(),
            scratch: Scratch::default(),
            shared: Arc::clone(&shared),
        };
        let thread = std::thread::Builder::new()
            .name("edgelm-scheduler".into())
            .spawn(move || scheduler.run(rx))
            .map_err(|e| Error::Invalid(format!("cannot start the scheduler thread: {e}")))?;
        Ok(Engine {
            tx: Some(tx),
            shared,
            thread: Some(thread),
            slot_ctx,
            threads,
            vocab,
        })
    }

    /// Queues `req`; its events then arrive at its sink, ending with `Event::Done`.
    /// A refused request hears nothing.
    pub fn submit(&self, req: Request) -> Result<(), Rejected> {
        let refused = |r: Rejected| {
            self.shared.stats().rejected += 1;
            Err(r)
        };
        if req.prompt.is_empty() {
            return refused(Rejected::EmptyPrompt);
        }
        if req.prompt.len() > self.slot_ctx {
            return refused(Rejected::PromptTooLong {
                prompt: req.prompt.len(),
                n_ctx: self.slot_ctx,
            });
        }
        if let Some(&id) = req.prompt.iter().find(|&&t| t as usize >= self.vocab) {
            return refused(Rejected::BadToken {
                id,
                vocab: self.vocab,
            });
        }
        let queued = self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if queued >= self.shared.max_queue {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            return refused(Rejected::QueueFull { queued });
        }
        let sent = match &self.tx {
            Some(tx) => tx.send((req, Instant::now())).is_ok(),
            None => false,
        };
        if !sent {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            return refused(Rejected::ShuttingDown);
        }
        Ok(())
    }

    /// Counters and gauges as of now.
    pub fn stats(&self) -> Stats {
        let mut s = self.shared.stats().clone();
        s.queued = self.shared.queued.load(Ordering::SeqCst);
        s
    }

    /// Context positions of one slot: the longest prompt plus generation a request
    /// can have.
    pub fn slot_ctx(&self) -> usize {
        self.slot_ctx
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The thread sees the channel close, cancels what is left and returns.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The scheduler thread's state.
struct Scheduler {
    model: Arc<Model>,
    tokenizer: Arc<Tokenizer>,
    pool: Arc<ThreadPool>,
    precision: Precision,
    n_batch: usize,
    /// KV cache slots not lent to a sequence.
    free: Vec<KvCache>,
    queue: VecDeque<(Request, Instant)>,
    /// Sequences holding a slot, in the order they arrived.
    active: Vec<Sequence>,
    scratch: Scratch,
    shared: Arc<Shared>,
}

/// How long an idle scheduler waits between checks that queued clients are still there.
const IDLE_POLL: Duration = Duration::from_millis(50);

impl Scheduler {
    fn run(mut self, rx: Receiver<(Request, Instant)>) {
        loop {
            if self.active.is_empty() {
                // Nothing to compute: sleep until a request comes (or the engine goes).
                match rx.recv_timeout(IDLE_POLL) {
                    Ok(r) => self.queue.push_back(r),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            let mut closed = false;
            loop {
                match rx.try_recv() {
                    Ok(r) => self.queue.push_back(r),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                break;
            }
            self.drop_departed();
            self.admit();
            if !self.active.is_empty() {
                self.step();
            }
        }
        self.shutdown();
    }

    /// Requests whose client left end now: queued ones before taking a slot, running
    /// ones before the next step.
    fn drop_departed(&mut self) {
        let before = self.queue.len();
        self.queue.retain(|(r, _)| !r.sink.is_closed());
        let gone = before - self.queue.len();
        self.shared.queued.fetch_sub(gone, Ordering::SeqCst);
        let mut cancelled = gone as u64;
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].is_closed() {
                let mut s = self.active.remove(i);
                s.cancel();
                cancelled += 1;
                self.free.push(s.kv);
            } else {
                i += 1;
            }
        }
        if cancelled > 0 {
            self.shared.stats().finished[2] += cancelled;
        }
    }

    /// Gives free slots to waiting requests, first come first served.
    fn admit(&mut self) {
        while !self.free.is_empty() {
            let Some((req, arrived)) = self.queue.pop_front() else {
                break;
            };
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            let kv = self.free.pop().expect("checked non-empty");
            self.active.push(Sequence::new(req, kv, arrived));
        }
    }

    /// One batched forward pass: the next token of every generating sequence and up
    /// to `n_batch` prompt tokens of those reading their prompt (oldest first).
    fn step(&mut self) {
        let mut budget = self.n_batch;
        // (sequence, tokens fed) in the order of `active`.
        let plan: Vec<(usize, usize)> = self
            .active
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.prompt_left() {
                0 => Some((i, 1)),
                _ if budget == 0 => None,
                left => {
                    let n = left.min(budget);
                    budget -= n;
                    Some((i, n))
                }
            })
            .collect();
        let mut wanted = plan.iter().map(|&(i, _)| i).peekable();
        let mut segs = Vec::with_capacity(plan.len());
        for (i, s) in self.active.iter_mut().enumerate() {
            if wanted.next_if_eq(&i).is_some() {
                segs.push(s.segment(plan[segs.len()].1));
            }
        }
        let tokens: usize = segs.iter().map(|s| s.tokens.len()).sum();
        let logits = self.model.forward(
            &mut segs,
            self.precision,
            LogitsFor::Last,
            &self.pool,
            &mut self.scratch,
        );
        drop(segs);
        let vocab = self.model.vocab_size();
        // Counted here and added at the end: the stats lock is not held while sinks
        // run, so a slow sink never blocks `submit` or `/metrics`.
        let mut step = Stats::new(0, 0, 0);
        step.steps = 1;
        step.step_tokens = tokens as u64;
        let mut ended = Vec::new();
        for (k, &(i, n)) in plan.iter().enumerate() {
            let s = &mut self.active[i];
            if s.prompt_left() > 0 {
                step.prompt_tokens += n as u64;
            }
            let before = s.generated();
            let stepped = s.advance(n, &logits[k * vocab..(k + 1) * vocab], &self.tokenizer);
            if s.generated() > before {
                step.generated_tokens += 1;
                if before == 0 {
                    if let Some(t) = s.ttft_s() {
                        step.ttft.observe(t);
                    }
                }
            }
            match stepped {
                Stepped::Running(Some(gap)) => step.token_latency.observe(gap),
                Stepped::Running(None) => {}
                Stepped::Done(outcome) => {
                    step.finish(&outcome.finish);
                    ended.push(i);
                }
            }
        }
        // Highest index first, so the others stay where they are.
        for &i in ended.iter().rev() {
            let s = self.active.remove(i);
            self.free.push(s.kv);
        }
        let mut stats = self.shared.stats();
        stats.add(&step);
        stats.active = self.active.len();
        stats.kv_used = self.active.iter().map(Sequence::used).sum();
    }

    fn shutdown(&mut self) {
        let mut cancelled = 0;
        for mut s in self.active.drain(..) {
            s.cancel();
            cancelled += 1;
        }
        for (mut r, _) in self.queue.drain(..) {
            r.sink.send(super::Event::Done(super::Outcome {
                finish: super::Finish::Cancelled,
                prompt_tokens: r.prompt.len(),
                completion_tokens: 0,
                ttft_ms: 0.0,
                total_ms: 0.0,
            }));
            cancelled += 1;
        }
        let mut stats = self.shared.stats();
        stats.finished[2] += cancelled;
        stats.active = 0;
        stats.kv_used = 0;
    }
}
