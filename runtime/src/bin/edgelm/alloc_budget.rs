//! A memory budget for work driven by untrusted data: a chat template can double a
//! string in a loop (a few instructions, so fuel never runs out) until memory is gone,
//! and Rust aborts on a failed allocation. Inside [`with_budget`], an allocation past
//! the budget ends the process with exit 1 and one error line instead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// The process's allocator: the system's, counting bytes on threads inside a budget.
pub struct BudgetAlloc;

thread_local! {
    /// Bytes this thread may still allocate; `None` outside a budget.
    static LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    /// The error line printed when the budget runs out (made before it starts).
    static MESSAGE: Cell<&'static str> = const { Cell::new("") };
}

/// Takes `size` bytes from this thread's budget; past it, says why and exits 1.
fn take(size: usize) {
    // `try_with`: during thread teardown the slot may be gone; then there is no budget.
    let _ = LEFT.try_with(|left| {
        if let Some(n) = left.get() {
            if size > n {
                left.set(None);
                let msg = MESSAGE.with(Cell::get);
                // No allocation from here on: stderr is unbuffered, exit runs no Rust
                // destructors.
                let _ = std::io::stderr().write_all(msg.as_bytes());
                std::process::exit(1);
            }
            left.set(Some(n - size));
        }
    });
}

fn give(size: usize) {
    let _ = LEFT.try_with(|left| {
        if let Some(n) = left.get() {
            left.set(Some(n.saturating_add(size)));
        }
    });
}

// SAFETY: every call is forwarded to `System` with the same arguments; the bookkeeping
// only reads and writes this thread's counters and never allocates or unwinds (the
// over-budget path writes to stderr and exits the process).
unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        take(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        take(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        give(layout.size());
        // SAFETY: `ptr` came from `System` with this layout (every path above forwards).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            take(new_size - layout.size());
        } else {
            give(layout.size() - new_size);
        }
        // SAFETY: as for `dealloc`; `new_size` is the caller's, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with at most `bytes` of new memory on this thread; past that the process
/// prints `edgelm: error: {what}: ...` and exits 1.
pub fn with_budget<T>(bytes: usize, what: &str, f: impl FnOnce() -> T) -> T {
    let msg = format!(
        "edgelm: error: {what}: needs more than {} MiB of memory; refusing to run it \
         further\n",
        bytes >> 20
    );
    // Leaked (the allocator may print it at any time), but only when it changes: the
    // server renders every chat request with the same template on a few threads.
    if MESSAGE.with(Cell::get) != msg {
        MESSAGE.with(|m| m.set(Box::leak(msg.into_boxed_str())));
    }
    LEFT.with(|l| l.set(Some(bytes)));
    // Ends the budget even if `f` panics: the server renders templates on pooled
    // threads that live on after a caught panic.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            let _ = LEFT.try_with(|l| l.set(None));
        }
    }
    let _end = End;
    f()
}
