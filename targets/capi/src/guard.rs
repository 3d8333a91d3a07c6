//! The boundary: every entry point runs its body through [`guard`], so a Rust panic
//! becomes `EDGELM_ERR_INTERNAL` instead of unwinding into C (undefined behaviour),
//! and a typed error becomes a status code plus this thread's last-error message.
//!
//! This relies on unwinding: the app library is built with the `device-lib` profile
//! (targets/scripts/build.sh), which unwinds; `panic = "abort"` (the CLI's `device`)
//! would abort instead. targets/scripts/check-panic.sh checks it.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::{
    clear_last_error, set_last_error, FfiError, FfiResult, Status, EDGELM_ERR_INTERNAL, EDGELM_OK,
};

/// Runs `body`, turning its error or panic into a status and a message.
pub fn guard(body: impl FnOnce() -> FfiResult<()>) -> Status {
    clear_last_error();
    // AssertUnwindSafe: after a panic the handles involved are either rebuilt (a
    // session's state is reset at the start of every generation) or only read.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => EDGELM_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&format!("internal error: {}", panic_text(&*payload)));
            EDGELM_ERR_INTERNAL
        }
    }
}

/// Like [`guard`] for the few functions that cannot fail in a way worth a code
/// (free, cancel): a panic is swallowed, never unwound into C.
pub fn guard_quiet(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// `p` as a reference, or an error naming the argument when it is null.
///
/// # Safety
/// A non-null `p` must point to a live `T` for `'a`.
pub unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees a non-null `p` points to a live `T`.
    unsafe { p.as_ref() }.ok_or_else(|| FfiError::invalid(format!("{name} is NULL")))
}

/// An array argument of `n` elements; NULL is accepted only when `n` is 0.
///
/// # Safety
/// A non-null `p` must be valid for `n` reads of `T` for `'a`.
pub unsafe fn arg_slice<'a, T>(p: *const T, n: usize, name: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        Ok(&[])
    } else if p.is_null() {
        Err(FfiError::invalid(format!("{name} is NULL")))
    } else {
        // SAFETY: non-null and valid for `n` reads per the caller's contract.
        Ok(unsafe { std::slice::from_raw_parts(p, n) })
    }
}

/// A C string argument as UTF-8 text.
///
/// # Safety
/// A non-null `p` must point to a NUL-terminated string that lives for `'a`.
pub unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|e| FfiError::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// Writes through an out-parameter, or fails when it is null.
///
/// # Safety
/// A non-null `p` must be valid for a write of `T`.
pub unsafe fn write_out<T>(p: *mut T, value: T, name: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-null and writable per the caller's contract; `write` does not
    // drop the (possibly uninitialised) old value.
    unsafe { p.write(value) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{last_error_ptr, EDGELM_ERR_IO};

    fn last() -> String {
        // SAFETY: last_error_ptr points to this thread's live, NUL-terminated message.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn panics_and_errors_become_codes_and_messages() {
        let st = guard(|| panic!("boom {}", 7));
        assert_eq!(
            (st, last()),
            (EDGELM_ERR_INTERNAL, "internal error: boom 7".into())
        );
        let st = guard(|| Err(FfiError::new(EDGELM_ERR_IO, "a\0b")));
        assert_eq!((st, last()), (EDGELM_ERR_IO, "a\\0b".into()));
        assert_eq!(guard(|| Ok(())), EDGELM_OK);
        assert_eq!(last(), "");
        guard_quiet(|| panic!("swallowed"));
    }
}
