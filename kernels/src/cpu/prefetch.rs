//! Software prefetch: decode reads every weight once, and one core waiting on memory
//! for each row runs at a fraction of the bandwidth it could use. Asking for the rows
//! ahead while the current ones compute keeps more loads in flight.

/// Asks the CPU to start loading `data[at..at + len]` into the cache, one request per
/// 64-byte line. A hint only: the part past the end of `data` is skipped, and on other
/// architectures it does nothing.
#[inline]
pub(crate) fn prefetch(data: &[u8], at: usize, len: usize) {
    let end = at.saturating_add(len).min(data.len());
    for off in (at..end).step_by(64) {
        line(data[off..].as_ptr());
    }
}

/// Part `part` of `parts` equal shares of the `bytes` at `next`, a line at a time: a
/// tile working through its `parts` blocks asks for the next tile's rows a share per
/// block, so that memory streams them in while it computes (decode reads every weight
/// once and waits on memory otherwise). A hint only, whatever the address.
#[cfg(target_arch = "x86_64")] // the tiles that use it
#[inline(always)]
pub(crate) fn share(next: *const u8, bytes: usize, parts: usize, part: usize) {
    let lines = bytes.div_ceil(64 * parts);
    for l in 0..lines {
        line(next.wrapping_add((part * lines + l) * 64));
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn line(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: SSE is part of the x86_64 baseline; a prefetch is a hint that never
    // faults, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn line(p: *const u8) {
    // SAFETY: PRFM is a hint: it reads nothing into registers, never faults and has no
    // effect on program state.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn line(_: *const u8) {}
