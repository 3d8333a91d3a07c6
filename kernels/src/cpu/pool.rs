//! A persistent pool of worker threads for the forward pass.
//!
//! A decode step is a couple of hundred small matrix products; forking and joining
//! rayon tasks for each costs more than the products themselves. Here the workers
//! live for the whole session. A call publishes a job (a loop taking work items from
//! a shared counter) by bumping a generation number; the caller and every worker
//! that wakes in time take items until none are left. Workers that arrive after the
//! caller ran out of items skip the job, so a worker the OS has descheduled on a
//! busy machine never holds the others up. Idle workers spin briefly, then yield,
//! then park on a condition variable. Nothing is allocated per call.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A job, called with the index of the thread running it.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// How long an idle worker busy-waits for the next job (the gap between two
/// products of one step is microseconds), then how long it yields its core before
/// parking.
const SPIN_FOR: Duration = Duration::from_micros(100);
const YIELD_FOR: Duration = Duration::from_millis(3);

/// `Shared::state` layout: generation in the high 32 bits, then a "closed" flag,
/// then the number of workers inside the current job.
const GEN_SHIFT: u32 = 32;
const CLOSED: u64 = 1 << 31;
const ACTIVE: u64 = CLOSED - 1;

fn generation(state: u64) -> u64 {
    state >> GEN_SHIFT
}

struct Shared {
    /// Generation, closed flag and active workers; see the constants above.
    state: AtomicU64,
    /// The current job, erased to `'static`; see `ThreadPool::run`.
    job: UnsafeCell<Option<*const Job<'static>>>,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Workers parked on `wake` (or about to), so `run` knows whether to notify.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the thread holding `ThreadPool::busy`: before the
// generation bump that publishes it (SeqCst), and after closing the job and seeing
// no worker inside it. Workers read it only after joining the open job of the
// generation they saw, so reads and writes never overlap. The pointee is `Sync`.
// Everything else is atomics or locks.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, so a poisoned one is still usable.
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the generation differs from `seen`; `None` on shutdown.
    fn next_job(&self, seen: u64) -> Option<u64> {
        let mut start = Instant::now();
        let mut spins = 0u32;
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            let g = generation(self.state.load(Ordering::Acquire));
            if g != seen {
                return Some(g);
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            let idle = start.elapsed();
            if idle < SPIN_FOR {
                std::hint::spin_loop();
            } else if idle < YIELD_FOR {
                std::thread::yield_now();
            } else {
                let mut guard = self.lock();
                // Registered before the re-check: `run` bumps the generation before it
                // reads `sleepers` (both SeqCst), so either we see the new job here or
                // it sees us and notifies under the lock we hold until `wait`.
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                while generation(self.state.load(Ordering::SeqCst)) == seen
                    && !self.shutdown.load(Ordering::SeqCst)
                {
                    guard = self
                        .wake
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
                start = Instant::now();
            }
        }
    }

    fn notify(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock();
            self.wake.notify_all();
        }
    }
}

/// What [`ThreadPool::for_each_chunk`] calls: `(chunk index, chunk, thread's scratch)`.
pub type ChunkFn<'f, T, S> = dyn Fn(usize, &mut [T], &mut [S]) + Sync + 'f;

/// A fixed set of threads that run jobs together; see the module documentation.
pub struct ThreadPool {
    threads: usize,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// Held while a job runs; a second caller (another thread, or a job calling
    /// back into its own pool) runs its job alone instead of deadlocking.
    busy: Mutex<()>,
    /// Quantized activations for `matmul_in`, reused from call to call.
    pub(crate) scratch: Mutex<Vec<u8>>,
}

impl ThreadPool {
    /// A pool of `threads` threads in all: the caller of [`run`](Self::run) and
    /// `threads - 1` workers (0 counts as 1).
    pub fn new(threads: usize) -> std::io::Result<ThreadPool> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut pool = ThreadPool {
            threads,
            shared,
            handles: Vec::with_capacity(threads - 1),
            busy: Mutex::new(()),
            scratch: Mutex::new(Vec::new()),
        };
        for index in 1..threads {
            let shared = Arc::clone(&pool.shared);
            // On failure `pool` drops here, which stops the workers already started.
            let handle = std::thread::Builder::new()
                .name(format!("edgelm-worker-{index}"))
                .spawn(move || worker(&shared, index))?;
            pool.handles.push(handle);
        }
        Ok(pool)
    }

    /// Threads taking part in each job, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `job(0)` here and `job(i)` on each worker `i` that picks the job up
    /// before `job(0)` returns; returns when all of those have returned. So `job`
    /// must itself hand out the work (see [`for_each`](Self::for_each)). A panic in
    /// any of them is re-raised here.
    pub(crate) fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        let _busy = match self.busy.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // Nested or concurrent use: this thread does all the work.
            Err(TryLockError::WouldBlock) => return job(0),
        };
        if self.threads == 1 {
            return job(0);
        }
        let s = &*self.shared;
        // SAFETY: only the lifetime is erased. The pointer is cleared below, after
        // the job is closed and no worker is inside it, before `job`'s borrow ends;
        // we hold `busy`, so no other `run` touches `s.job` meanwhile (see `Shared`).
        unsafe {
            let erased: *const Job<'_> = job;
            *s.job.get() = Some(std::mem::transmute::<*const Job<'_>, *const Job<'static>>(
                erased,
            ));
        }
        // Wraps after 2^32 jobs; workers only compare generations for equality.
        let next = (generation(s.state.load(Ordering::Relaxed)) + 1) & 0xffff_ffff;
        s.state.store(next << GEN_SHIFT, Ordering::SeqCst);
        s.notify();
        let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
        // Late workers must not start; then wait for those inside.
        let mut state = s.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut spins = 0u32;
        while state & ACTIVE != 0 {
            spins = spins.saturating_add(1);
            if spins < 20_000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            state = s.state.load(Ordering::Acquire);
        }
        // SAFETY: the job is closed and no worker is inside it; we hold `busy`.
        unsafe { *s.job.get() = None };
        if let Err(payload) = mine {
            resume_unwind(payload);
        }
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a worker thread of the pool panicked");
        }
    }

    /// Calls `f(thread, item)` once for every `item` in `0..items`, handing items to
    /// threads as they become free (balances load on a busy machine). `thread` is
    /// below [`threads`](Self::threads) and no two items run on one thread at once;
    /// what is computed for an item must not depend on it (only scratch may).
    pub fn for_each(&self, items: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        match items {
            0 => {}
            1 => f(0, 0),
            _ => {
                let next = AtomicUsize::new(0);
                self.run(&|thread| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items {
                        break;
                    }
                    f(thread, i);
                });
            }
        }
    }

    /// Splits `data` into chunks of `chunk` elements (the last may be shorter) and
    /// `scratch` into `threads()` equal parts, and calls `f(index, chunk, part)`
    /// for every chunk, with the part belonging to the thread running it.
    ///
    /// # Panics
    /// If `chunk` is 0 while `data` is not empty.
    pub fn for_each_chunk<T: Send, S: Send>(
        &self,
        data: &mut [T],
        chunk: usize,
        scratch: &mut [S],
        f: &ChunkFn<'_, T, S>,
    ) {
        if data.is_empty() {
            return;
        }
        assert!(chunk > 0, "for_each_chunk: chunk of 0 elements");
        let items = data.len().div_ceil(chunk);
        let part = scratch.len() / self.threads;
        let (data_len, data_ptr) = (data.len(), SendPtr(data.as_mut_ptr()));
        let scratch_ptr = SendPtr(scratch.as_mut_ptr());
        self.for_each(items, &|thread, i| {
            let start = i * chunk;
            let len = chunk.min(data_len - start);
            // SAFETY: item `i` owns elements `start..start + len` of `data`, disjoint
            // from every other item's, and each is handed out once; `thread` is
            // below `threads()` and only one item runs on a thread at a time, so
            // part `thread` of `scratch` has one user. Both borrows end before
            // `for_each` returns, within the `&mut` borrows we were given.
            let (c, s) = unsafe {
                (
                    std::slice::from_raw_parts_mut(data_ptr.get().add(start), len),
                    std::slice::from_raw_parts_mut(scratch_ptr.get().add(thread * part), part),
                )
            };
            f(i, c, s);
        });
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared
            .state
            .fetch_add(1 << GEN_SHIFT, Ordering::SeqCst);
        {
            let _guard = self.shared.lock();
            self.shared.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            // A worker only exits by returning; a panic inside a job is caught.
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads)
            .finish()
    }
}

fn worker(s: &Shared, index: usize) {
    let mut seen = 0;
    while let Some(g) = s.next_job(seen) {
        seen = g;
        // Join the job unless it is already closed (or superseded).
        let mut state = s.state.load(Ordering::Acquire);
        let joined = loop {
            if generation(state) != g || state & CLOSED != 0 {
                break false;
            }
            match s.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break true,
                Err(now) => state = now,
            }
        };
        if !joined {
            continue;
        }
        // SAFETY: we joined the open job of generation `g`; `run` stored it before
        // publishing `g` and clears it only after we leave (decrement below).
        let job = unsafe { (*s.job.get()).map(|p| &*p) };
        if let Some(job) = job {
            if catch_unwind(AssertUnwindSafe(|| job(index))).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        s.state.fetch_sub(1, Ordering::Release);
    }
}

/// A raw pointer that may cross threads; users uphold disjointness themselves.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

// Manual impls: derive would require `T: Copy`.
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

// SAFETY: only a carrier; every dereference is justified where it happens.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// A method (not field access) so closures capture the whole `Sync` wrapper.
    #[inline]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_on_a_valid_thread() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool::new(threads).unwrap();
            for items in [0, 1, 2, 7, 100] {
                let hits: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..50 {
                    pool.for_each(items, &|thread, i| {
                        assert!(thread < threads);
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50));
            }
        }
    }

    #[test]
    fn parked_workers_wake_up() {
        let pool = ThreadPool::new(3).unwrap();
        std::thread::sleep(YIELD_FOR + Duration::from_millis(20));
        let sum = AtomicUsize::new(0);
        pool.for_each(1000, &|_, i| {
            sum.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 999 * 1000 / 2);
    }

    #[test]
    fn chunks_cover_data_and_nested_runs_do_not_deadlock() {
        let pool = ThreadPool::new(3).unwrap();
        let mut data = vec![0usize; 103];
        let mut scratch = vec![0usize; 3 * 4];
        pool.for_each_chunk(&mut data, 10, &mut scratch, &|i, c, s| {
            assert_eq!(s.len(), 4);
            s[0] += 1;
            let inner = AtomicUsize::new(0);
            pool.for_each(5, &|_, _| {
                inner.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(inner.load(Ordering::Relaxed), 5);
            for (j, v) in c.iter_mut().enumerate() {
                *v = i * 10 + j;
            }
        });
        assert!(data.iter().enumerate().all(|(j, &v)| v == j));
        assert_eq!(scratch.iter().step_by(4).sum::<usize>(), 11);
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_survives() {
        let pool = ThreadPool::new(2).unwrap();
        for bad in [0, 57] {
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.for_each(100, &|_, i| assert!(i != bad, "item {bad} fails"));
            }));
            assert!(r.is_err());
        }
        let n = AtomicUsize::new(0);
        pool.for_each(100, &|_, _| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 100);
    }
}
