//! A generation session: the model, its KV cache, the current position, and the
//! worker threads and buffers its forward passes reuse.
//!
//! A session owns a reference to its model, so sessions (and the C API's handles)
//! can live anywhere; several sessions can share one model and one worker pool.

use std::sync::Arc;

use edgelm_kernels::cpu::{Precision, ThreadPool};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kv_cache::{KvCache, KvType};
use crate::model::{LogitsFor, Model, Scratch, Segment};

#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Context size in tokens; 0 means min(model context, 4096).
    pub n_ctx: usize,
    pub kv_type: KvType,
    pub precision: Precision,
    /// Prompt tokens evaluated per forward pass.
    pub n_batch: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            n_ctx: 0,
            kv_type: KvType::F16,
            precision: Precision::Fast,
            n_batch: 64,
        }
    }
}

pub struct Session {
    model: Arc<Model>,
    kv: KvCache,
    pos: usize,
    precision: Precision,
    n_batch: usize,
    pool: Arc<ThreadPool>,
    scratch: Scratch,
    /// The model on the GPU, when the session runs there.
    #[cfg(feature = "cuda")]
    gpu: Option<Box<crate::model::CudaForward>>,
    /// Why `Device::Auto` fell back to the CPU.
    notice: Option<String>,
}

/// A worker pool of `threads` threads in all (0: one per logical CPU), to share
/// between sessions with [`Session::with_pool`].
pub fn worker_pool(threads: usize) -> Result<Arc<ThreadPool>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    ThreadPool::new(threads)
        .map(Arc::new)
        .map_err(|e| Error::Invalid(format!("cannot start {threads} worker threads: {e}")))
}

/// The number of positions a context of `n_ctx` tokens (0: the default) gives for
/// `model`, or why it cannot have them.
pub fn context_size(model: &Model, n_ctx: usize) -> Result<usize> {
    let train = model.config.n_ctx_train;
    match n_ctx {
        0 => Ok(train.min(4096)),
        n if n > train => Err(Error::Invalid(format!(
            "--ctx {n} is larger than the model's context length {train}"
        ))),
        n => Ok(n),
    }
}

impl Session {
    /// A session whose forward passes run on a pool of its own with as many threads
    /// as the current rayon pool has (so `pool.install(|| Session::new(..))` sets the
    /// thread count; the global pool has one per logical CPU). Results do not depend
    /// on it.
    pub fn new(model: Arc<Model>, opts: &SessionOptions) -> Result<Session> {
        let pool = worker_pool(rayon::current_num_threads())?;
        Session::with_pool(model, opts, pool)
    }

    /// A session whose forward passes run on `pool`, which other sessions may share
    /// (their passes then take turns).
    pub fn with_pool(
        model: Arc<Model>,
        opts: &SessionOptions,
        pool: Arc<ThreadPool>,
    ) -> Result<Session> {
        let c = &model.config;
        let n_ctx = context_size(&model, opts.n_ctx)?;
        check_kv_fits(&model, 1, n_ctx, opts.kv_type)?;
        let kv = KvCache::new(opts.kv_type, c.n_layer, n_ctx, c.kv_dim());
        Ok(Session {
            model,
            kv,
            pos: 0,
            precision: opts.precision,
            n_batch: opts.n_batch.max(1),
            pool,
            scratch: Scratch::default(),
            #[cfg(feature = "cuda")]
            gpu: None,
            notice: None,
        })
    }

    /// A session on `device` ([`Session::new`] is the CPU). On the GPU the forward
    /// passes use f32 activations with exactly dequantized weights and an f16 KV
    /// cache whatever `opts.precision` and `opts.kv_type` say. `Device::Auto` falls
    /// back to the CPU and records why in [`Session::notice`].
    pub fn with_device(
        model: Arc<Model>,
        opts: &SessionOptions,
        device: Device,
    ) -> Result<Session> {
        #[allow(unused_mut)]
        let mut s = Session::new(model, opts)?;
        match device {
            Device::Cpu => {}
            #[cfg(not(feature = "cuda"))]
            Device::Cuda => return Err(Error::Device(crate::device::NOT_BUILT.into())),
            #[cfg(not(feature = "cuda"))]
            Device::Auto => {}
            // Until the CUDA path has passed on a GPU, `auto` does not pick it.
            #[cfg(feature = "cuda")]
            Device::Auto if !crate::device::CUDA_VERIFIED => {
                s.notice = Some(crate::device::UNVERIFIED_AUTO.into());
            }
            #[cfg(feature = "cuda")]
            Device::Cuda | Device::Auto => {
                if !crate::device::CUDA_VERIFIED {
                    s.notice = Some(crate::device::UNVERIFIED.into());
                }
                let started = edgelm_kernels::cuda::Gpu::new(0).and_then(|gpu| {
                    crate::model::CudaForward::new(gpu, &s.model, s.n_ctx(), s.n_batch)
                });
                match started {
                    Ok(f) => s.gpu = Some(Box::new(f)),
                    Err(e) if device == Device::Auto => {
                        s.notice = Some(format!("CUDA not used, running on the CPU: {e}"));
                    }
                    Err(e) => return Err(Error::Device(e.to_string())),
                }
            }
        }
        Ok(s)
    }

    /// Why the session runs on the CPU although `Device::Auto` asked for the GPU, or
    /// that the GPU path it runs on is not verified yet.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// `"cuda"` or `"cpu"`.
    pub fn device(&self) -> &'static str {
        if self.gpu_name().is_some() {
            "cuda"
        } else {
            "cpu"
        }
    }

    /// The GPU's name when the session runs on one.
    pub fn gpu_name(&self) -> Option<&str> {
        #[cfg(feature = "cuda")]
        if let Some(g) = &self.gpu {
            return Some(g.gpu_name());
        }
        None
    }

    /// GPU memory held for weights, KV cache and activations.
    pub fn gpu_mem_bytes(&self) -> Option<usize> {
        #[cfg(feature = "cuda")]
        if let Some(g) = &self.gpu {
            return Some(g.gpu_bytes());
        }
        None
    }

    /// Threads each forward pass runs on.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tokens in the cache.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn n_ctx(&self) -> usize {
        self.kv.n_ctx()
    }

    /// Free positions left in the context.
    pub fn remaining(&self) -> usize {
        self.n_ctx() - self.pos
    }

    /// The KV cache's element type.
    pub fn kv_type(&self) -> KvType {
        self.kv.ty()
    }

    pub fn kv_cache_bytes(&self) -> usize {
        if self.gpu_name().is_some() {
            // The GPU cache is f16.
            let c = &self.model.config;
            return 2 * c.n_layer * self.n_ctx() * c.kv_dim() * 2;
        }
        self.kv.bytes()
    }

    /// Forgets everything cached.
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Forgets cached positions from `pos` on (to rewind a conversation).
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Evaluates `tokens` in batches and returns the logits of the last one, or of
    /// every one with [`LogitsFor::All`].
    pub fn eval(&mut self, tokens: &[u32], logits_for: LogitsFor) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::Invalid("nothing to evaluate: no tokens".into()));
        }
        if tokens.len() > self.remaining() {
            return Err(Error::PromptTooLong {
                prompt: self.pos + tokens.len(),
                n_ctx: self.n_ctx(),
                max: self.model.config.n_ctx_train,
            });
        }
        let vocab = self.model.vocab_size();
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Invalid(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let mut out = Vec::new();
        for batch in tokens.chunks(self.n_batch) {
            #[cfg(feature = "cuda")]
            if let Some(g) = self.gpu.as_deref_mut() {
                let logits = g
                    .forward(batch, self.pos, logits_for)
                    .map_err(|e| Error::Device(e.to_string()))?;
                self.pos += batch.len();
                if logits_for == LogitsFor::Last {
                    out.clear();
                }
                out.extend_from_slice(&logits);
                continue;
            }
            let mut seg = [Segment {
                tokens: batch,
                pos0: self.pos,
                kv: &mut self.kv,
            }];
            let logits = self.model.forward(
                &mut seg,
                self.precision,
                logits_for,
                &self.pool,
                &mut self.scratch,
            );
            self.pos += batch.len();
            match logits_for {
                LogitsFor::All => out.extend_from_slice(logits),
                LogitsFor::Last => {
                    out.clear();
                    out.extend_from_slice(logits);
                }
            }
        }
        Ok(out)
    }
}

/// Refuses caches for `slots` sequences of `n_ctx` positions that need more memory
/// than this machine has (or than can be counted), instead of aborting on the
/// allocation, and block types whose blocks do not tile the model's KV rows.
pub(crate) fn check_kv_fits(model: &Model, slots: usize, n_ctx: usize, ty: KvType) -> Result<()> {
    let c = &model.config;
    ty.check_row(c.kv_dim()).map_err(Error::Invalid)?;
    let kv_bytes = [slots, 2, c.n_layer, n_ctx, ty.row_bytes(c.kv_dim())]
        .into_iter()
        .try_fold(1usize, usize::checked_mul);
    let total = crate::metrics::total_memory_bytes();
    if kv_bytes.is_none_or(|b| total.is_some_and(|t| b as u64 > t)) {
        return Err(Error::Invalid(format!(
            "a KV cache of {} positions needs {} of memory, more than this \
             machine has; lower --ctx",
            slots.saturating_mul(n_ctx),
            kv_bytes.map_or("more bytes than fit in usize".into(), |b| format!(
                "{:.1} GiB",
                b as f64 / (1u64 << 30) as f64
            ))
        )));
    }
    Ok(())
}
