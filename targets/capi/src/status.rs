//! Status codes, their messages, and the per-thread message of the last failure.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};

use edgelm_runtime::gguf::GgufError;
use edgelm_runtime::Error;

/// Every entry point returns one of these (`edgelm_status` in the header).
pub type Status = c_int;

pub const EDGELM_OK: Status = 0;
pub const EDGELM_ERR_INVALID_ARGUMENT: Status = 1;
pub const EDGELM_ERR_IO: Status = 2;
pub const EDGELM_ERR_BAD_MODEL: Status = 3;
pub const EDGELM_ERR_PROMPT_TOO_LONG: Status = 4;
pub const EDGELM_ERR_BUFFER_TOO_SMALL: Status = 5;
pub const EDGELM_ERR_CHAT_TEMPLATE: Status = 6;
pub const EDGELM_ERR_BUSY: Status = 7;
pub const EDGELM_ERR_SYSTEM: Status = 8;
pub const EDGELM_ERR_INTERNAL: Status = 9;

/// All codes with their fixed descriptions, in code order.
pub const STATUS_MESSAGES: [(Status, &CStr); 10] = [
    (EDGELM_OK, c"ok"),
    (EDGELM_ERR_INVALID_ARGUMENT, c"invalid argument"),
    (EDGELM_ERR_IO, c"cannot read the file"),
    (EDGELM_ERR_BAD_MODEL, c"not a model edgelm can run"),
    (
        EDGELM_ERR_PROMPT_TOO_LONG,
        c"the prompt does not fit in the context",
    ),
    (
        EDGELM_ERR_BUFFER_TOO_SMALL,
        c"the output buffer is too small",
    ),
    (EDGELM_ERR_CHAT_TEMPLATE, c"chat template missing or failed"),
    (
        EDGELM_ERR_BUSY,
        c"the session is generating on another thread",
    ),
    (
        EDGELM_ERR_SYSTEM,
        c"the operating system refused a resource",
    ),
    (EDGELM_ERR_INTERNAL, c"internal error in edgelm"),
];

/// A failure on its way to C: a code and the full message.
#[derive(Debug)]
pub struct FfiError {
    pub status: Status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: Status, message: impl Into<String>) -> FfiError {
        FfiError {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> FfiError {
        FfiError::new(EDGELM_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> FfiError {
        let status = match &e {
            Error::Gguf(GgufError::Io { .. }) => EDGELM_ERR_IO,
            Error::Gguf(_) | Error::Tokenizer(_) | Error::Model { .. } => EDGELM_ERR_BAD_MODEL,
            Error::Chat(_) => EDGELM_ERR_CHAT_TEMPLATE,
            Error::PromptTooLong { .. } => EDGELM_ERR_PROMPT_TOO_LONG,
            // The C API runs on the CPU: a device error means a device was asked for
            // that this build or machine does not have.
            Error::Invalid(_) | Error::Device(_) => EDGELM_ERR_INVALID_ARGUMENT,
        };
        FfiError::new(status, e.to_string())
    }
}

pub type FfiResult<T> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub fn set_last_error(message: &str) {
    // An interior NUL would cut the C string short; show it instead of failing.
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub fn clear_last_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::default());
}

/// Pointer to this thread's last message; valid until the next edgelm call on the thread.
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

pub fn status_message(status: Status) -> &'static CStr {
    STATUS_MESSAGES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(c"unknown status code", |(_, m)| *m)
}
