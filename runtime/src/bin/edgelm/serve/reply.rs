//! Response bodies in OpenAI's shapes: the whole answer, and the chunks of a stream.

use edgelm_runtime::serve::Outcome;
use serde_json::{json, Value};

use super::openai::Kind;

/// What every response and chunk of one request carries.
pub struct Reply {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
    /// `stream_options.include_usage`: chunks carry `"usage": null`, and a last one
    /// with `choices: []` carries the counts.
    pub include_usage: bool,
}

impl Reply {
    /// The whole answer (`stream: false`).
    pub fn complete(&self, text: String, o: &Outcome) -> Value {
        let choice = match self.kind {
            Kind::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": o.finish.as_openai(),
            }),
            Kind::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": null,
                "finish_reason": o.finish.as_openai(),
            }),
        };
        let mut v = self.head(self.object(false));
        v["choices"] = json!([choice]);
        v["usage"] = usage(o);
        v
    }

    /// The chat stream's first chunk: the assistant's role, no text yet.
    pub fn role_chunk(&self) -> Value {
        self.chunk(json!({"role": "assistant", "content": ""}), "", None)
    }

    /// A piece of text.
    pub fn text_chunk(&self, text: &str) -> Value {
        self.chunk(json!({"content": text}), text, None)
    }

    /// The chunk that says why generation ended.
    pub fn finish_chunk(&self, o: &Outcome) -> Value {
        self.chunk(json!({}), "", Some(o.finish.as_openai()))
    }

    /// After the finish chunk with `include_usage`: no choices, the counts.
    pub fn usage_chunk(&self, o: &Outcome) -> Value {
        let mut v = self.head(self.object(true));
        v["choices"] = json!([]);
        v["usage"] = usage(o);
        v
    }

    fn chunk(&self, delta: Value, text: &str, finish: Option<&str>) -> Value {
        let choice = match self.kind {
            Kind::Chat => json!({
                "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish,
            }),
            Kind::Completion => json!({
                "index": 0, "text": text, "logprobs": null, "finish_reason": finish,
            }),
        };
        let mut v = self.head(self.object(true));
        v["choices"] = json!([choice]);
        if self.include_usage {
            v["usage"] = Value::Null;
        }
        v
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Completion, _) => "text_completion",
        }
    }

    fn head(&self, object: &str) -> Value {
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": concat!("edgelm-", env!("CARGO_PKG_VERSION")),
        })
    }
}

fn usage(o: &Outcome) -> Value {
    json!({
        "prompt_tokens": o.prompt_tokens,
        "completion_tokens": o.completion_tokens,
        "total_tokens": o.prompt_tokens + o.completion_tokens,
    })
}
