//! Chat templates (`tokenizer.chat_template`) rendered with minijinja the way HF
//! transformers renders them with Jinja2: `trim_blocks` and `lstrip_blocks` on, Python
//! string and dict methods (`.strip()`, `.startswith()`, `.items()`), `raise_exception`.

mod builtin;

pub use builtin::{builtin, for_architecture, BUILTIN};

use minijinja::{context, Environment, Error, ErrorKind, Value};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat template does not parse: {0:#}")]
    Syntax(#[source] Error),
    #[error("chat template failed: {0:#}")]
    Render(#[source] Error),
}

/// Renders `template` over `messages`; `add_generation_prompt` opens the assistant's turn.
pub fn render_chat(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String, ChatError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    // A template is data from the model file: bound its work, so that a loop or a
    // string doubling without end fails instead of running (and growing) forever.
    env.set_fuel(Some(FUEL));
    let tmpl = env.template_from_str(template).map_err(ChatError::Syntax)?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
        .collect();
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    })
    .map_err(ChatError::Render)
}

/// Instructions a template may run: real chat templates use a few thousand per turn.
const FUEL: u64 = 2_000_000;

/// Templates call this to reject a conversation (e.g. roles that do not alternate).
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn raise_exception_becomes_an_error() {
        let e = render_chat(
            "{% if messages[0].role != 'user' %}{{ raise_exception('users first') }}{% endif %}",
            &[msg("assistant", "hi")],
            false,
            "",
            "",
        )
        .unwrap_err();
        assert!(matches!(e, ChatError::Render(_)));
        assert!(e.to_string().contains("users first"), "{e}");
    }

    #[test]
    fn a_template_that_runs_away_fails_instead_of_hanging() {
        let loops =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let start = std::time::Instant::now();
        let e = render_chat(loops, &[msg("user", "hi")], true, "", "").unwrap_err();
        assert!(matches!(e, ChatError::Render(_)), "{e}");
        assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
    }

    #[test]
    fn syntax_errors_are_reported() {
        let e = render_chat("{% for m in messages %}", &[], false, "", "").unwrap_err();
        assert!(matches!(e, ChatError::Syntax(_)), "{e}");
    }

    #[test]
    fn python_string_methods() {
        let out = render_chat(
            "{{ messages[0].content.strip().upper() }}{{ messages[0].content.startswith(' a') }}",
            &[msg("user", " abc ")],
            false,
            "",
            "",
        )
        .unwrap();
        // Booleans print as Jinja2 prints them.
        assert_eq!(out, "ABCTrue");
    }
}
