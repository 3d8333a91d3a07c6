//! `edgelm_model`: a mapped GGUF file with its tokenizer, shared (reference counted)
//! by the sessions made from it; and the text functions that need only the model.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Instant;

use edgelm_runtime::chat::{render_chat, ChatMessage};
use edgelm_runtime::model::Model;
use edgelm_runtime::tokenizer::Tokenizer;
use edgelm_runtime::Error;

use crate::buffers::{copy_items, copy_text};
use crate::guard::{arg_ref, arg_slice, arg_str, guard, guard_quiet, write_out};
use crate::status::{FfiError, FfiResult, Status, EDGELM_ERR_CHAT_TEMPLATE};

const MIB: f64 = 1024.0 * 1024.0;

/// What a model handle owns; sessions hold another reference to it.
pub struct Loaded {
    pub model: Arc<Model>,
    pub tokenizer: Tokenizer,
    pub load_ms: f64,
}

/// Opaque to C.
#[allow(non_camel_case_types)]
pub struct edgelm_model {
    pub(crate) loaded: Arc<Loaded>,
}

#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct edgelm_model_info {
    pub vocab_size: u32,
    pub n_ctx_train: u32,
    pub n_layer: u32,
    pub n_embd: u32,
    pub load_ms: f64,
    pub file_mib: f64,
    pub has_chat_template: bool,
}

#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct edgelm_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
}

fn load(path: &str) -> FfiResult<Loaded> {
    let start = Instant::now();
    let model = Model::load(path)?;
    let tokenizer = Tokenizer::from_gguf(&model.file).map_err(Error::from)?;
    Ok(Loaded {
        model: Arc::new(model),
        tokenizer,
        load_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Saturating, so a huge figure reads as "at least u32::MAX" rather than wrapping.
pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Renders `messages` with the model's chat template, opening the assistant's turn
/// when `add_generation_prompt` (as `edgelm run --chat` does).
pub(crate) fn render(
    loaded: &Loaded,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> FfiResult<String> {
    let tok = &loaded.tokenizer;
    let template = tok.chat_template().ok_or_else(|| {
        FfiError::new(
            EDGELM_ERR_CHAT_TEMPLATE,
            format!(
                "{}: the model has no chat template (tokenizer.chat_template)",
                loaded.model.file.path().display()
            ),
        )
    })?;
    let name = |id: Option<u32>| id.and_then(|i| tok.token_str(i)).unwrap_or_default();
    render_chat(
        template,
        messages,
        add_generation_prompt,
        name(tok.bos()),
        name(tok.eos()),
    )
    .map_err(|e| Error::from(e).into())
}

/// # Safety
/// `path`: a NUL-terminated string or NULL; `out`: writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_model_load(
    path: *const c_char,
    out: *mut *mut edgelm_model,
) -> Status {
    guard(|| {
        if out.is_null() {
            return Err(FfiError::invalid("out is NULL"));
        }
        // SAFETY: writable per the contract; NULL until a model exists.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the contract for `path`.
        let path = unsafe { arg_str(path, "path")? };
        let handle = Box::new(edgelm_model {
            loaded: Arc::new(load(path)?),
        });
        // SAFETY: checked non-null above.
        unsafe { write_out(out, Box::into_raw(handle), "out") }
    })
}

/// # Safety
/// `model`: NULL or a pointer from `edgelm_model_load` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_model_free(model: *mut edgelm_model) {
    guard_quiet(|| {
        if !model.is_null() {
            // SAFETY: made by Box::into_raw in edgelm_model_load and freed only here.
            drop(unsafe { Box::from_raw(model) });
        }
    })
}

/// # Safety
/// `model`: a live model or NULL; `info`: writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_model_get_info(
    model: *const edgelm_model,
    info: *mut edgelm_model_info,
) -> Status {
    guard(|| {
        // SAFETY: the contract for `model`.
        let l = &unsafe { arg_ref(model, "model")? }.loaded;
        let c = &l.model.config;
        let value = edgelm_model_info {
            vocab_size: to_u32(l.model.vocab_size()),
            n_ctx_train: to_u32(c.n_ctx_train),
            n_layer: to_u32(c.n_layer),
            n_embd: to_u32(c.n_embd),
            load_ms: l.load_ms,
            file_mib: l.model.file.file_size() as f64 / MIB,
            has_chat_template: l.tokenizer.chat_template().is_some(),
        };
        // SAFETY: the contract for `info`.
        unsafe { write_out(info, value, "info") }
    })
}

/// # Safety
/// `model` live or NULL; `text` NUL-terminated or NULL; `tokens` valid for `capacity`
/// writes (may be NULL when `capacity` is 0); `n_tokens` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_tokenize(
    model: *const edgelm_model,
    text: *const c_char,
    add_special: bool,
    parse_special: bool,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> Status {
    guard(|| {
        // SAFETY: the contract for `model` and `text`.
        let l = &unsafe { arg_ref(model, "model")? }.loaded;
        // SAFETY: as above.
        let text = unsafe { arg_str(text, "text")? };
        let ids = l.tokenizer.encode(text, add_special, parse_special);
        // SAFETY: the contract for `tokens`, `capacity` and `n_tokens`.
        unsafe { copy_items(&ids, tokens, capacity, n_tokens, "tokens") }
    })
}

/// # Safety
/// `model` live or NULL; `tokens` valid for `n_tokens` reads (or NULL when 0);
/// `text` valid for `capacity` writes; `length` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_detokenize(
    model: *const edgelm_model,
    tokens: *const u32,
    n_tokens: usize,
    text: *mut c_char,
    capacity: usize,
    length: *mut usize,
) -> Status {
    guard(|| {
        // SAFETY: the contract for `model`.
        let l = &unsafe { arg_ref(model, "model")? }.loaded;
        // SAFETY: the contract for `tokens`.
        let ids = unsafe { arg_slice(tokens, n_tokens, "tokens")? };
        let s = l.tokenizer.decode(ids);
        // SAFETY: the contract for `text`, `capacity` and `length`.
        unsafe { copy_text(&s, text, capacity, length, "text") }
    })
}

/// # Safety
/// `model` live or NULL; `messages` valid for `n_messages` reads, each with
/// NUL-terminated `role` and `content`; `text`/`length` as in `edgelm_detokenize`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgelm_chat_format(
    model: *const edgelm_model,
    messages: *const edgelm_chat_message,
    n_messages: usize,
    add_generation_prompt: bool,
    text: *mut c_char,
    capacity: usize,
    length: *mut usize,
) -> Status {
    guard(|| {
        // SAFETY: the contract for `model`.
        let l = &unsafe { arg_ref(model, "model")? }.loaded;
        // SAFETY: the contract for `messages`.
        let raw = unsafe { arg_slice(messages, n_messages, "messages")? };
        let mut msgs = Vec::with_capacity(raw.len());
        for (i, m) in raw.iter().enumerate() {
            msgs.push(ChatMessage {
                // SAFETY: the contract for each message's strings.
                role: unsafe { arg_str(m.role, &format!("messages[{i}].role"))? }.to_string(),
                // SAFETY: as above.
                content: unsafe { arg_str(m.content, &format!("messages[{i}].content"))? }
                    .to_string(),
            });
        }
        let s = render(l, &msgs, add_generation_prompt)?;
        // SAFETY: the contract for `text`, `capacity` and `length`.
        unsafe { copy_text(&s, text, capacity, length, "text") }
    })
}
