//! Results copied into caller-owned buffers, with the size-query convention of the
//! header: the needed length is always reported, and a short buffer is an error.

use std::ffi::c_char;

use crate::guard::write_out;
use crate::status::{FfiError, FfiResult, EDGELM_ERR_BUFFER_TOO_SMALL};

/// Copies `items` into `out[..capacity]` and reports the count in `*n_out`.
///
/// # Safety
/// A non-null `out` must be valid for `capacity` writes of `T`; `n_out` for one `usize`.
pub unsafe fn copy_items<T: Copy>(
    items: &[T],
    out: *mut T,
    capacity: usize,
    n_out: *mut usize,
    what: &str,
) -> FfiResult<()> {
    // SAFETY: the caller's contract for `n_out`.
    unsafe { write_out(n_out, items.len(), "the count out-parameter")? };
    if items.len() > capacity {
        return Err(FfiError::new(
            EDGELM_ERR_BUFFER_TOO_SMALL,
            format!(
                "{what} needs room for {} items, the buffer holds {capacity}",
                items.len()
            ),
        ));
    }
    if items.is_empty() {
        return Ok(());
    }
    if out.is_null() {
        return Err(FfiError::invalid(format!("the {what} buffer is NULL")));
    }
    // SAFETY: `out` is non-null and holds `capacity >= items.len()` elements per the
    // caller's contract; a caller's buffer cannot overlap our freshly built `items`.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len()) };
    Ok(())
}

/// Copies `text` and a terminating NUL into `out[..capacity]`; `*len_out` gets the
/// length without the NUL, so `capacity` must be at least `len + 1`.
///
/// # Safety
/// A non-null `out` must be valid for `capacity` byte writes; `len_out` for one `usize`.
pub unsafe fn copy_text(
    text: &str,
    out: *mut c_char,
    capacity: usize,
    len_out: *mut usize,
    what: &str,
) -> FfiResult<()> {
    // SAFETY: the caller's contract for `len_out`.
    unsafe { write_out(len_out, text.len(), "the length out-parameter")? };
    if text.len() >= capacity {
        return Err(FfiError::new(
            EDGELM_ERR_BUFFER_TOO_SMALL,
            format!(
                "{what} needs {} bytes with its NUL, the buffer holds {capacity}",
                text.len() + 1
            ),
        ));
    }
    if out.is_null() {
        return Err(FfiError::invalid(format!("the {what} buffer is NULL")));
    }
    // SAFETY: `out` is non-null with room for `text.len() + 1 <= capacity` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
        out.add(text.len()).write(0);
    }
    Ok(())
}
