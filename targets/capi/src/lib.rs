//! edgelm's C API: the functions declared in `targets/include/edgelm.h`, built as
//! `libedgelm.a` for Android (JNI) and iOS (Swift) apps.
//!
//! Handles are opaque boxes; every fallible function returns an `edgelm_status` and
//! leaves a message for `edgelm_last_error()`. No panic crosses the boundary: each entry
//! runs inside `catch_unwind` (see `guard`). The header is written by hand;
//! `tests/c_api.rs` checks that its constants and struct layouts match these.

mod buffers;
mod generate;
mod guard;
mod model;
mod session;
mod status;

use std::ffi::{c_char, CStr};

pub use generate::{
    edgelm_generate, edgelm_report, edgelm_token_callback, EDGELM_STOP_CALLBACK,
    EDGELM_STOP_CANCELLED, EDGELM_STOP_CONTEXT_FULL, EDGELM_STOP_END_OF_GENERATION,
    EDGELM_STOP_MAX_TOKENS, EDGELM_STOP_NONE, EDGELM_TOKEN_NONE,
};
pub use model::{
    edgelm_chat_format, edgelm_chat_message, edgelm_detokenize, edgelm_model, edgelm_model_free,
    edgelm_model_get_info, edgelm_model_info, edgelm_model_load, edgelm_tokenize,
};
pub use session::{
    edgelm_cancel, edgelm_session, edgelm_session_default_options, edgelm_session_free,
    edgelm_session_new, edgelm_session_options, EDGELM_SEED_RANDOM,
};
pub use status::*;

/// Panics inside the boundary, as an internal bug would: returns EDGELM_ERR_INTERNAL
/// when the library unwinds (the app profiles); aborts the process under
/// `panic = "abort"`. Built only with the feature `fault-injection`.
#[cfg(feature = "fault-injection")]
#[unsafe(no_mangle)]
pub extern "C" fn edgelm_debug_panic() -> Status {
    guard::guard(|| panic!("fault injection: edgelm_debug_panic"))
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };

/// The library version, e.g. "0.1.0"; a static string.
#[unsafe(no_mangle)]
pub extern "C" fn edgelm_version() -> *const c_char {
    VERSION.as_ptr()
}

/// A fixed description of `status`; a static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn edgelm_status_message(status: Status) -> *const c_char {
    status_message(status).as_ptr()
}

/// This thread's message for its last failed call ("" after a success). Valid until
/// the next edgelm call on the same thread.
#[unsafe(no_mangle)]
pub extern "C" fn edgelm_last_error() -> *const c_char {
    last_error_ptr()
}
