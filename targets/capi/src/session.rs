//! `edgelm_session`: a KV cache, sampling settings and a worker pool over one model.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use edgelm_runtime::kv_cache::KvType;
use edgelm_runtime::sampler::SamplerConfig;
use edgelm_runtime::session::{worker_pool, Session, SessionOptions};
use edgelm_runtime::Precision;

use crate::guard::{arg_ref, guard, guard_quiet};
use crate::model::{edgelm_model, Loaded};
use crate::status::{FfiError, FfiResult, Status, EDGELM_ERR_SYSTEM};

/// `seed` value asking for a seed from the clock at each generation.
pub const EDGELM_SEED_RANDOM: u64 = u64::MAX;

#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct edgelm_session_options {
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_threads: u32,
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub repeat_last_n: u32,
    pub seed: u64,
    pub precise: bool,
}

impl Default for edgelm_session_options {
    /// `edgelm run`'s defaults (llama.cpp's sampling chain), with a clock seed.
    fn default() -> Self {
        let s = SamplerConfig::default();
        let o = SessionOptions::default();
        edgelm_session_options {
            n_ctx: 0,
            n_batch: o.n_batch as u32,
            n_threads: 0,
            temperature: s.temperature,
            top_k: s.top_k as u32,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            repeat_last_n: s.repeat_last_n as u32,
            seed: EDGELM_SEED_RANDOM,
            precise: false,
        }
    }
}

impl edgelm_session_options {
    fn check(&self) -> FfiResult<()> {
        let bad = |what: &str, v: f32| FfiError::invalid(format!("{what} {v} is out of range"));
        if !self.temperature.is_finite() {
            return Err(bad("temperature", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p (0 < p <= 1)", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p (0 <= p <= 1)", self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(bad("repeat_penalty (> 0)", self.repeat_penalty));
        }
        Ok(())
    }

    pub(crate) fn sampler(&self) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k as usize,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n as usize,
            seed: if self.seed == EDGELM_SEED_RANDOM {
                clock_seed()
            } else {
                self.seed
            },
            ..SamplerConfig::default()
        }
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a generation needs exclusively; behind the session's mutex.
pub(crate) struct State {
    /// Holds its own reference to the model and its own worker pool.
    pub session: Session,
    pub opts: edgelm_session_options,
}

/// Opaque to C.
#[allow(non_camel_case_types)]
pub struct edgelm_session {
    /// Set by `edgelm_cancel` from any thread; read between tokens.
    pub(crate) cancel: AtomicBool,
    pub(crate) state: Mutex<State>,
    pub(crate) model: Arc<Loaded>,
}

#[unsafe(no_mangle)]
pub extern "C" fn edgelm_session_default_options() -> edgelm_session_options {
    edgelm_session_options::default()
}

/// # Safety
/// `model` live or NULL; `options` readable or NULL (defaults); `out` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_session_new(
    model: *const edgelm_model,
    options: *const edgelm_session_options,
    out: *mut *mut edgelm_session,
) -> Status {
    guard(|| {
        if out.is_null() {
            return Err(FfiError::invalid("out is NULL"));
        }
        // SAFETY: writable per the contract; NULL until a session exists.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the contract for `model`.
        let model = Arc::clone(&unsafe { arg_ref(model, "model")? }.loaded);
        // SAFETY: `options` is NULL or readable per the contract.
        let opts = unsafe { options.as_ref() }.copied().unwrap_or_default();
        opts.check()?;
        let session_opts = SessionOptions {
            n_ctx: opts.n_ctx as usize,
            kv_type: if opts.precise {
                KvType::F32
            } else {
                KvType::F16
            },
            precision: if opts.precise {
                Precision::Precise
            } else {
                Precision::Fast
            },
            n_batch: if opts.n_batch == 0 {
                SessionOptions::default().n_batch
            } else {
                opts.n_batch as usize
            },
        };
        let threads = match opts.n_threads {
            0 => edgelm_runtime::cpu_cores::default_threads().threads,
            n => n as usize,
        };
        let pool =
            worker_pool(threads).map_err(|e| FfiError::new(EDGELM_ERR_SYSTEM, e.to_string()))?;
        let session = Session::with_pool(Arc::clone(&model.model), &session_opts, pool)?;
        let handle = Box::new(edgelm_session {
            cancel: AtomicBool::new(false),
            state: Mutex::new(State { session, opts }),
            model,
        });
        // SAFETY: `out` checked non-null above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// # Safety
/// `session`: NULL or from `edgelm_session_new`, not yet freed, not generating.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_session_free(session: *mut edgelm_session) {
    guard_quiet(|| {
        if !session.is_null() {
            // SAFETY: made by Box::into_raw in edgelm_session_new and freed only here.
            drop(unsafe { Box::from_raw(session) });
        }
    })
}

/// # Safety
/// `session`: NULL or a live session. Callable from any thread, also from inside the
/// token callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_cancel(session: *const edgelm_session) {
    guard_quiet(|| {
        // SAFETY: NULL or live per the contract; only the atomic is touched, so this
        // may overlap a running generation (which reads the session through `&`).
        if let Some(s) = unsafe { session.as_ref() } {
            s.cancel.store(true, Ordering::SeqCst);
        }
    })
}
