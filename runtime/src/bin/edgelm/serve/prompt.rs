//! A request's prompt as token ids: chat messages through the model's template (with
//! the assistant's turn opened), text through the tokenizer, ids as they are.

use edgelm_runtime::serve::Rejected;

use super::errors::ApiError;
use super::openai::{Kind, Prompt};
use super::state::AppState;
use crate::alloc_budget;
use crate::run::{render_messages, starts_with_bos, TEMPLATE_MEMORY};

/// Runs on a blocking thread: a long prompt takes a while to tokenize, and the
/// template's memory budget is counted per thread.
pub fn tokens(st: &AppState, prompt: Prompt) -> Result<Vec<u32>, ApiError> {
    let tok = &st.tokenizer;
    match prompt {
        Prompt::Chat(messages) => {
            let t = &st.template;
            // Rendering is bounded in instructions (fuel) by the library and in memory
            // here, as in `edgelm run --chat`.
            let text = alloc_budget::with_budget(TEMPLATE_MEMORY, &t.source, || {
                render_messages(tok, &messages, &t.text)
            })
            .map_err(|e| {
                ApiError::field(
                    "messages",
                    format!(
                        "{}: {}",
                        t.source,
                        edgelm_runtime::process::error_message(e.as_ref())
                    ),
                )
            })?;
            Ok(tok.encode(&text, !starts_with_bos(tok, &text), true))
        }
        // Special tokens written in the text are parsed, as llama-server does.
        Prompt::Text(text) => Ok(tok.encode(&text, true, true)),
        Prompt::Tokens(ids) => Ok(ids),
    }
}

/// A refusal from the engine as an HTTP error.
pub fn refused(r: Rejected, kind: Kind) -> ApiError {
    let field = match kind {
        Kind::Chat => "messages",
        Kind::Completion => "prompt",
    };
    match r {
        Rejected::EmptyPrompt => ApiError::field(
            field,
            format!("{field}: the prompt is empty after tokenization"),
        ),
        Rejected::PromptTooLong { prompt, n_ctx } => ApiError::field(
            field,
            format!(
                "the prompt is {prompt} tokens long, more than the {n_ctx} tokens of context a \
                 request has on this server (--ctx split between --parallel slots)"
            ),
        ),
        Rejected::BadToken { id, vocab } => ApiError::field(
            field,
            format!("token id {id} is outside the model's vocabulary of {vocab}"),
        ),
        Rejected::QueueFull { queued } => ApiError::busy(format!(
            "the server is busy: {queued} requests are already waiting (--max-queue); try again"
        )),
        Rejected::ShuttingDown => ApiError::busy("the server is shutting down"),
    }
}
