//! The serving engine's continuous batching (`edgelm_runtime::serve`): a request's
//! tokens do not depend on what it is batched with, and stop strings, limits,
//! cancellation and refusals behave as the OpenAI API says.

use std::ops::ControlFlow;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier};

use edgelm_runtime::generate::generate;
use edgelm_runtime::model::Model;
use edgelm_runtime::sampler::{Sampler, SamplerConfig};
use edgelm_runtime::serve::{
    Engine, EngineConfig, Event, Finish, Outcome, Rejected, Request, Sink,
};
use edgelm_runtime::session::{Session, SessionOptions};
use edgelm_runtime::tokenizer::{TextStream, Tokenizer};
use edgelm_tests::{fixtures_dir, smollm2_path};

/// Forwards events to a channel; `closed_after`: report the client gone after that
/// many text events (a disconnect mid-stream).
struct ChannelSink {
    tx: Sender<Event>,
    texts: usize,
    closed_after: Option<usize>,
}

impl Sink for ChannelSink {
    fn send(&mut self, event: Event) -> bool {
        if matches!(event, Event::Text(_)) {
            self.texts += 1;
        }
        self.tx.send(event).is_ok() && !self.is_closed()
    }
    fn is_closed(&self) -> bool {
        self.closed_after.is_some_and(|n| self.texts >= n)
    }
}

fn request(prompt: Vec<u32>, sampler: SamplerConfig, max: usize) -> (Request, Receiver<Event>) {
    let (tx, rx) = channel();
    let req = Request {
        prompt,
        max_tokens: Some(max),
        sampler,
        stop: Vec::new(),
        ignore_eos: true,
        sink: Box::new(ChannelSink {
            tx,
            texts: 0,
            closed_after: None,
        }),
    };
    (req, rx)
}

/// The text and the outcome, once the request is done.
fn collect(rx: &Receiver<Event>) -> (String, Outcome) {
    let mut text = String::new();
    for e in rx.iter() {
        match e {
            Event::Text(t) => text.push_str(&t),
            Event::Done(o) => return (text, o),
        }
    }
    panic!("the engine dropped a request without Event::Done");
}

fn greedy() -> SamplerConfig {
    SamplerConfig {
        temperature: 0.0,
        ..SamplerConfig::default()
    }
}

fn sampled(seed: u64) -> SamplerConfig {
    SamplerConfig {
        seed,
        ..SamplerConfig::default()
    }
}

fn load(path: &std::path::Path) -> (Arc<Model>, Arc<Tokenizer>) {
    let model = Model::load(path).unwrap();
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    (Arc::new(model), Arc::new(tok))
}

/// Sixteen prompts of different lengths (some longer than a prefill chunk).
fn prompts(vocab: usize) -> Vec<Vec<u32>> {
    (0..16)
        .map(|i| {
            let len = 3 + (i * 11) % 90;
            (0..len)
                .map(|j| ((i * 7919 + j * 104_729) % vocab) as u32)
                .collect()
        })
        .collect()
}

fn config(parallel: usize) -> EngineConfig {
    EngineConfig {
        parallel,
        n_ctx: 256 * parallel,
        n_batch: 32,
        threads: 2,
        ..EngineConfig::default()
    }
}

/// The same text `edgelm run` would print: a session, the same prefill batch.
fn alone_in_a_session(
    model: &Arc<Model>,
    tok: &Tokenizer,
    prompt: &[u32],
    cfg: SamplerConfig,
    n: usize,
) -> String {
    let opts = SessionOptions {
        n_ctx: 256,
        n_batch: 32,
        ..SessionOptions::default()
    };
    let mut s = Session::new(Arc::clone(model), &opts).unwrap();
    let mut text = TextStream::default();
    let mut out = String::new();
    generate(
        &mut s,
        &mut Sampler::new(cfg),
        prompt,
        n,
        |_| false,
        |t| {
            out.push_str(&text.push(&tok.decode_token(t)));
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    out + &text.finish()
}

fn batching_is_invisible(path: &std::path::Path) {
    let (model, tok) = load(path);
    let prompts = prompts(model.vocab_size());
    let cfg = |i: usize| {
        if i.is_multiple_of(3) {
            sampled(i as u64)
        } else {
            greedy()
        }
    };
    // One slot: every request alone.
    let alone: Vec<String> = {
        let engine = Engine::start(Arc::clone(&model), Arc::clone(&tok), &config(1)).unwrap();
        prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (req, rx) = request(p.clone(), cfg(i), 20);
                engine.submit(req).unwrap();
                let (text, o) = collect(&rx);
                assert_eq!((o.finish, o.completion_tokens), (Finish::Length, 20));
                text
            })
            .collect()
    };
    // Sixteen slots, all at once: decode steps of 16 tokens, prompts read in chunks
    // shared between them.
    let engine = Engine::start(Arc::clone(&model), Arc::clone(&tok), &config(16)).unwrap();
    let rxs: Vec<_> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (req, rx) = request(p.clone(), cfg(i), 20);
            engine.submit(req).unwrap();
            rx
        })
        .collect();
    for (i, rx) in rxs.iter().enumerate() {
        let (text, o) = collect(rx);
        assert_eq!(
            text,
            alone[i],
            "{}: request {i} batched with 15 others",
            path.display()
        );
        assert_eq!(o.prompt_tokens, prompts[i].len());
    }
    let stats = engine.stats();
    assert!(
        stats.step_tokens > 3 * stats.steps,
        "the requests were not batched: {} tokens in {} steps",
        stats.step_tokens,
        stats.steps
    );
    // And a session gives the same text as the server.
    for i in [0, 1, 5] {
        let want = alone_in_a_session(&model, &tok, &prompts[i], cfg(i), 20);
        assert_eq!(alone[i], want, "request {i}: engine vs session");
    }
}

#[test]
fn a_request_gives_the_same_text_alone_or_batched_with_15_others() {
    for name in ["llama", "gemma3", "gpt2"] {
        batching_is_invisible(&fixtures_dir().join(format!("tiny/{name}.gguf")));
    }
    if let Some(p) = smollm2_path() {
        batching_is_invisible(&p);
    }
}

#[test]
fn stop_strings_limits_and_cancellation() {
    let (model, tok) = load(&fixtures_dir().join("tiny/llama.gguf"));
    let engine = Engine::start(Arc::clone(&model), Arc::clone(&tok), &config(2)).unwrap();
    let prompt: Vec<u32> = (100..140).collect();
    let run = |stop: Vec<String>, max: usize, closed_after: Option<usize>| {
        let (tx, rx) = channel();
        let req = Request {
            prompt: prompt.clone(),
            max_tokens: Some(max),
            sampler: greedy(),
            stop,
            ignore_eos: true,
            sink: Box::new(ChannelSink {
                tx,
                texts: 0,
                closed_after,
            }),
        };
        engine.submit(req).unwrap();
        collect(&rx)
    };
    let (full, o) = run(Vec::new(), 30, None);
    assert_eq!((o.finish, o.completion_tokens), (Finish::Length, 30));
    // A stop string from the middle of the text: generation ends right before it.
    let chars: Vec<char> = full.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 3].iter().collect();
    let at = full.find(&stop).unwrap();
    let (text, o) = run(vec!["never appears \u{1}".into(), stop.clone()], 30, None);
    assert_eq!(text, full[..at], "stop {stop:?}");
    assert_eq!(o.finish, Finish::Stop);
    assert!(o.completion_tokens < 30);
    // max_tokens.
    let (text, o) = run(Vec::new(), 5, None);
    assert!(full.starts_with(&text));
    assert_eq!((o.finish, o.completion_tokens), (Finish::Length, 5));
    // A client that leaves after 3 pieces cancels its request, and frees its slot.
    let (_, o) = run(Vec::new(), 30, Some(3));
    assert_eq!(o.finish, Finish::Cancelled);
    assert!(o.completion_tokens < 30, "{o:?}");
    let (text, _) = run(Vec::new(), 30, None);
    assert_eq!(
        text, full,
        "the slot of a cancelled request is reused cleanly"
    );
    // Counted at the end of the step that sent the last `Done`.
    let mut stats = engine.stats();
    for _ in 0..100 {
        if stats.finished.iter().sum::<u64>() == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        stats = engine.stats();
    }
    assert_eq!(stats.finished, [1, 3, 1, 0]);
    assert_eq!((stats.active, stats.kv_used), (0, 0));
}

/// Blocks the scheduler at its first event until the test lets it go, so that the
/// queue fills deterministically.
struct BlockingSink(Arc<Barrier>, bool);

impl Sink for BlockingSink {
    fn send(&mut self, _: Event) -> bool {
        if !self.1 {
            self.1 = true;
            self.0.wait();
            self.0.wait();
        }
        true
    }
}

#[test]
fn refusals_name_the_problem() {
    let (model, tok) = load(&fixtures_dir().join("tiny/llama.gguf"));
    let cfg = EngineConfig {
        max_queue: 2,
        ..config(1)
    };
    let engine = Engine::start(model, tok, &cfg).unwrap();
    assert_eq!(engine.slot_ctx(), 256);
    let (req, _rx) = request(vec![1; 257], greedy(), 4);
    assert_eq!(
        engine.submit(req).unwrap_err(),
        Rejected::PromptTooLong {
            prompt: 257,
            n_ctx: 256
        }
    );
    let (req, _rx) = request(Vec::new(), greedy(), 4);
    assert_eq!(engine.submit(req).unwrap_err(), Rejected::EmptyPrompt);
    let (req, _rx) = request(vec![1, u32::MAX], greedy(), 4);
    assert!(matches!(
        engine.submit(req),
        Err(Rejected::BadToken { id: u32::MAX, .. })
    ));

    let barrier = Arc::new(Barrier::new(2));
    let (mut first, _rx) = request(vec![1, 2, 3], greedy(), 4);
    first.sink = Box::new(BlockingSink(Arc::clone(&barrier), false));
    engine.submit(first).unwrap();
    barrier.wait(); // the scheduler is inside the first request's first event
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (req, rx) = request(vec![4, 5], greedy(), 2);
            engine.submit(req).unwrap();
            rx
        })
        .collect();
    let (req, _rx) = request(vec![6], greedy(), 2);
    assert_eq!(
        engine.submit(req).unwrap_err(),
        Rejected::QueueFull { queued: 2 }
    );
    barrier.wait();
    for rx in &waiting {
        assert_eq!(collect(rx).1.finish, Finish::Length);
    }
    assert_eq!(engine.stats().rejected, 4);
}
