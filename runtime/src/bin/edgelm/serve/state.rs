//! What every handler shares: the engine, the tokenizer and chat template, the
//! server's settings, and the HTTP counters behind `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use edgelm_runtime::serve::Engine;
use edgelm_runtime::tokenizer::Tokenizer;

pub struct AppState {
    pub engine: Engine,
    pub tokenizer: Arc<Tokenizer>,
    pub template: Template,
    /// The model's name in responses and `/v1/models`: `--alias`, else the file name.
    pub model_id: String,
    pub api_key: Option<String>,
    /// Largest request body, in bytes (413 past it).
    pub max_body: usize,
    /// Unix time the server started (`created` of `/v1/models`).
    pub started: u64,
    /// Responses sent, by status code.
    pub responses: Mutex<BTreeMap<u16, u64>>,
    next_id: AtomicU64,
}

/// The chat template for `/v1/chat/completions`, and what to call it in errors.
pub struct Template {
    pub text: String,
    pub source: String,
}

impl AppState {
    pub fn new(
        engine: Engine,
        tokenizer: Arc<Tokenizer>,
        template: Template,
        model_id: String,
        api_key: Option<String>,
        max_body: usize,
    ) -> AppState {
        AppState {
            engine,
            tokenizer,
            template,
            model_id,
            api_key,
            max_body,
            started: unix_now(),
            responses: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// A response id unique in this process and unlikely to repeat across restarts.
    pub fn next_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{:x}{n:06x}", self.started)
    }

    /// A seed for a request that gave none: different for every request.
    pub fn random_seed(&self) -> u64 {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        splitmix(crate::run::clock_seed() ^ n.rotate_left(32))
    }

    pub fn count_response(&self, status: u16) {
        let mut m = self
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *m.entry(status).or_default() += 1;
    }

    /// The engine's metrics and the HTTP responses by status code.
    pub fn prometheus(&self) -> String {
        let mut o = self.engine.stats().prometheus();
        o.push_str(
            "# HELP edgelm_http_responses_total HTTP responses sent, by status code.\n\
             # TYPE edgelm_http_responses_total counter\n",
        );
        let m = self
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (code, n) in m.iter() {
            let _ = writeln!(o, "edgelm_http_responses_total{{code=\"{code}\"}} {n}");
        }
        o
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One round of SplitMix64: spreads clock bits over the whole seed.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
