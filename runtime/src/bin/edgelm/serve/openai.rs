//! The body of an OpenAI completion request, checked field by field: a field of the
//! wrong type or out of range is a 400 that names it; fields we do not know (`model`,
//! `user`, llama.cpp's `cache_prompt`, ...) are ignored, as llama-server ignores them.

use edgelm_runtime::chat::ChatMessage;
use edgelm_runtime::sampler::SamplerConfig;
use serde_json::{Map, Value};

use super::errors::ApiError;

/// Which endpoint the body came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `/v1/chat/completions`: `messages`, answered with `message` / `delta`.
    Chat,
    /// `/v1/completions`: `prompt`, answered with `text`.
    Completion,
}

/// What to generate from.
#[derive(Debug, PartialEq)]
pub enum Prompt {
    Chat(Vec<ChatMessage>),
    Text(String),
    /// Token ids given directly (`"prompt": [1, 2, 3]`).
    Tokens(Vec<u32>),
}

#[derive(Debug)]
pub struct Params {
    pub prompt: Prompt,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with the token counts.
    pub include_usage: bool,
    /// `None`: until the slot's context is full (llama-server's default).
    pub max_tokens: Option<usize>,
    pub sampler: SamplerConfig,
    /// `None`: the request gave no seed (or -1): the caller picks a random one.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
}

/// Stop strings a request may give (OpenAI allows 4; llama-server any number).
const MAX_STOP: usize = 16;
/// Bytes of one stop string: they are matched on the scheduler thread after every
/// token, so a huge one would slow every request on the server, not just its own.
const MAX_STOP_BYTES: usize = 512;

pub fn parse(body: &[u8], kind: Kind) -> Result<Params, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(o) = v else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object, not {}",
            type_name(&v)
        )));
    };
    let prompt = match kind {
        Kind::Chat => Prompt::Chat(messages(&o)?),
        Kind::Completion => prompt(&o)?,
    };
    if let Some(n) = int(&o, "n")? {
        if n != 1 {
            return Err(ApiError::field(
                "n",
                format!("n is {n}: only 1 is supported"),
            ));
        }
    }
    let d = SamplerConfig::default();
    let sampler = SamplerConfig {
        temperature: float(&o, "temperature", d.temperature, |x| x >= 0.0, "0 or more")?,
        top_p: float(
            &o,
            "top_p",
            d.top_p,
            |x| (0.0..=1.0).contains(&x),
            "between 0 and 1",
        )?,
        min_p: float(
            &o,
            "min_p",
            d.min_p,
            |x| (0.0..=1.0).contains(&x),
            "between 0 and 1",
        )?,
        top_k: count(&o, "top_k")?.unwrap_or(d.top_k),
        repeat_penalty: float(
            &o,
            "repeat_penalty",
            d.repeat_penalty,
            |x| x > 0.0,
            "above 0",
        )?,
        repeat_last_n: count(&o, "repeat_last_n")?.unwrap_or(d.repeat_last_n),
        frequency_penalty: float(
            &o,
            "frequency_penalty",
            d.frequency_penalty,
            |x| (-2.0..=2.0).contains(&x),
            "between -2 and 2",
        )?,
        presence_penalty: float(
            &o,
            "presence_penalty",
            d.presence_penalty,
            |x| (-2.0..=2.0).contains(&x),
            "between -2 and 2",
        )?,
        seed: 0,
    };
    // max_completion_tokens is the newer name; -1 is llama.cpp's "no limit".
    let max_field = if present(&o, "max_completion_tokens") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let max_tokens = match int(&o, max_field)? {
        None | Some(-1) => None,
        Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(n) => {
            return Err(ApiError::field(
                max_field,
                format!("{max_field} is {n}: must be at least 1 (or -1: no limit)"),
            ))
        }
    };
    let stream = boolean(&o, "stream")?.unwrap_or(false);
    let include_usage = match o.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(so)) => boolean(so, "include_usage")
            .map_err(|e| ApiError::field("stream_options.include_usage", e.message))?
            .unwrap_or(false),
        Some(v) => return Err(wrong_type("stream_options", "an object", v)),
    };
    Ok(Params {
        prompt,
        stream,
        include_usage,
        max_tokens,
        sampler,
        seed: seed(&o)?,
        stop: stop(&o)?,
        ignore_eos: boolean(&o, "ignore_eos")?.unwrap_or(false),
    })
}

fn messages(o: &Map<String, Value>) -> Result<Vec<ChatMessage>, ApiError> {
    let list = match o.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::field("messages", "messages is required"))
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::field("messages", "messages is empty"))
        }
        Some(Value::Array(a)) => a,
        Some(v) => return Err(wrong_type("messages", "an array", v)),
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let at = |f: &str| format!("messages[{i}]{f}");
            let Value::Object(m) = m else {
                return Err(wrong_type(&at(""), "an object", m));
            };
            let role = match m.get("role") {
                Some(Value::String(r)) => r.clone(),
                None => {
                    return Err(ApiError::field(
                        at(".role"),
                        format!("{} is required", at(".role")),
                    ))
                }
                Some(v) => return Err(wrong_type(&at(".role"), "a string", v)),
            };
            let content = match m.get("content") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(c)) => c.clone(),
                Some(Value::Array(parts)) => text_parts(parts, &at(".content"))?,
                Some(v) => {
                    return Err(wrong_type(
                        &at(".content"),
                        "a string or an array of parts",
                        v,
                    ))
                }
            };
            Ok(ChatMessage { role, content })
        })
        .collect()
}

/// `[{"type": "text", "text": "..."}, ...]` joined by newlines, as llama-server does;
/// images and audio are refused.
fn text_parts(parts: &[Value], at: &str) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let here = format!("{at}[{j}]");
        match (p.get("type").and_then(Value::as_str), p.get("text")) {
            (Some("text"), Some(Value::String(t))) => texts.push(t.as_str()),
            (Some("text"), _) => {
                return Err(ApiError::field(
                    format!("{here}.text"),
                    format!("{here}.text must be a string"),
                ))
            }
            (Some(other), _) => {
                return Err(ApiError::field(
                    format!("{here}.type"),
                    format!("{here}.type is '{other}': this server takes text parts only"),
                ))
            }
            (None, _) => {
                return Err(ApiError::field(
                    here.clone(),
                    format!("{here} must be an object with \"type\": \"text\""),
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// A string, an array of one string, or token ids (an array of integers, or an
/// array of one such array).
fn prompt(o: &Map<String, Value>) -> Result<Prompt, ApiError> {
    let one = "prompt must be one string, or token ids: this server answers one prompt per request";
    match o.get("prompt") {
        None | Some(Value::Null) => Err(ApiError::field("prompt", "prompt is required")),
        Some(Value::String(s)) => Ok(Prompt::Text(s.clone())),
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::String(s)] => Ok(Prompt::Text(s.clone())),
            [Value::Array(ids)] => token_ids(ids),
            [] => Err(ApiError::field("prompt", "prompt is an empty array")),
            ids if ids.iter().all(Value::is_number) => token_ids(ids),
            _ => Err(ApiError::field("prompt", one)),
        },
        Some(v) => Err(wrong_type("prompt", "a string or an array", v)),
    }
}

fn token_ids(ids: &[Value]) -> Result<Prompt, ApiError> {
    ids.iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::field(
                        "prompt",
                        format!("prompt: {v} is not a token id (an integer from 0)"),
                    )
                })
        })
        .collect::<Result<_, _>>()
        .map(Prompt::Tokens)
}

fn stop(o: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let list: Vec<String> = match o.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                v => Err(wrong_type("stop", "a string or an array of strings", v)),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(wrong_type("stop", "a string or an array of strings", v)),
    };
    if list.len() > MAX_STOP {
        return Err(ApiError::field(
            "stop",
            format!("stop has {} strings: at most {MAX_STOP}", list.len()),
        ));
    }
    if let Some(long) = list.iter().find(|s| s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::field(
            "stop",
            format!(
                "a stop string is {} bytes long: at most {MAX_STOP_BYTES}",
                long.len()
            ),
        ));
    }
    // An empty stop string would end every generation before its first token.
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Any integer; -1 (llama.cpp) or none: a random seed.
fn seed(o: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match o.get("seed") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(-1)) => Ok(None),
            // Other negative seeds are seeds too: their bits.
            (None, Some(i)) => Ok(Some(i as u64)),
            _ => Err(ApiError::field(
                "seed",
                format!("seed is {n}: must be an integer"),
            )),
        },
        Some(v) => Err(wrong_type("seed", "an integer", v)),
    }
}

fn present(o: &Map<String, Value>, name: &str) -> bool {
    !matches!(o.get(name), None | Some(Value::Null))
}

fn boolean(o: &Map<String, Value>, name: &'static str) -> Result<Option<bool>, ApiError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong_type(name, "true or false", v)),
    }
}

/// An integer (a float with no fraction, e.g. `16.0`, counts as one).
fn int(o: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, ApiError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| ApiError::field(name, format!("{name} is {n}: must be an integer"))),
        Some(v) => Err(wrong_type(name, "an integer", v)),
    }
}

/// An integer of 0 or more; a negative one means "off" (0), as in llama.cpp.
fn count(o: &Map<String, Value>, name: &'static str) -> Result<Option<usize>, ApiError> {
    Ok(int(o, name)?.map(|n| usize::try_from(n).unwrap_or(0)))
}

fn float(
    o: &Map<String, Value>,
    name: &'static str,
    default: f32,
    ok: impl Fn(f32) -> bool,
    want: &str,
) -> Result<f32, ApiError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN) as f32;
            if x.is_finite() && ok(x) {
                Ok(x)
            } else {
                Err(ApiError::field(
                    name,
                    format!("{name} is {n}: must be {want}"),
                ))
            }
        }
        Some(v) => Err(wrong_type(name, "a number", v)),
    }
}

fn wrong_type(name: &str, want: &str, got: &Value) -> ApiError {
    ApiError::field(
        name,
        format!("{name} must be {want}, not {}", type_name(got)),
    )
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<Params, ApiError> {
        parse(body.as_bytes(), Kind::Chat)
    }

    fn completion(body: &str) -> Result<Params, ApiError> {
        parse(body.as_bytes(), Kind::Completion)
    }

    fn param(r: Result<Params, ApiError>) -> Option<String> {
        r.expect_err("should be refused").param
    }

    #[test]
    fn defaults_are_llama_servers() {
        let p = chat(
            r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"cache_prompt":true}"#,
        )
        .unwrap();
        let d = SamplerConfig::default();
        assert_eq!(p.sampler.temperature, d.temperature);
        assert_eq!(p.sampler.top_k, d.top_k);
        assert_eq!(p.max_tokens, None);
        assert_eq!(p.seed, None);
        assert!(!p.stream);
        assert_eq!(
            p.prompt,
            Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: "hi".into()
            }])
        );
    }

    #[test]
    fn fields_are_read() {
        let p = completion(
            r#"{"prompt":["once"],"max_tokens":5,"temperature":0,"top_p":0.5,"top_k":3,
                "min_p":0,"seed":7,"stop":["a","","b"],"stream":true,
                "stream_options":{"include_usage":true},"ignore_eos":true,"n":1,
                "frequency_penalty":0.5,"presence_penalty":-0.5,"repeat_penalty":1.1}"#,
        )
        .unwrap();
        assert_eq!(p.prompt, Prompt::Text("once".into()));
        assert_eq!(p.max_tokens, Some(5));
        assert_eq!(p.sampler.temperature, 0.0);
        assert_eq!(p.sampler.top_k, 3);
        assert_eq!(p.seed, Some(7));
        assert_eq!(p.stop, vec!["a", "b"]);
        assert!(p.stream && p.include_usage && p.ignore_eos);
        assert_eq!(
            completion(r#"{"prompt":[1,2,3]}"#).unwrap().prompt,
            Prompt::Tokens(vec![1, 2, 3])
        );
        assert_eq!(
            completion(r#"{"prompt":"x","seed":-1}"#).unwrap().seed,
            None
        );
        assert_eq!(
            completion(r#"{"prompt":"x","max_tokens":9,"max_completion_tokens":4}"#)
                .unwrap()
                .max_tokens,
            Some(4)
        );
        let parts = chat(r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#).unwrap();
        assert_eq!(
            parts.prompt,
            Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: "a\nb".into()
            }])
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let m = r#""messages":[{"role":"user","content":"hi"}]"#;
        assert_eq!(
            param(chat(&format!(r#"{{{m},"temperature":"hot"}}"#))).as_deref(),
            Some("temperature")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"temperature":-1}}"#))).as_deref(),
            Some("temperature")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"top_p":2}}"#))).as_deref(),
            Some("top_p")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"max_tokens":0}}"#))).as_deref(),
            Some("max_tokens")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"max_tokens":1.5}}"#))).as_deref(),
            Some("max_tokens")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"n":2}}"#))).as_deref(),
            Some("n")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"stop":[1]}}"#))).as_deref(),
            Some("stop")
        );
        let long = "x".repeat(MAX_STOP_BYTES + 1);
        assert_eq!(
            param(chat(&format!(r#"{{{m},"stop":"{long}"}}"#))).as_deref(),
            Some("stop")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"stream":"yes"}}"#))).as_deref(),
            Some("stream")
        );
        assert_eq!(
            param(chat(&format!(r#"{{{m},"seed":"x"}}"#))).as_deref(),
            Some("seed")
        );
        assert_eq!(
            param(chat(&format!(
                r#"{{{m},"stream_options":{{"include_usage":1}}}}"#
            )))
            .as_deref(),
            Some("stream_options.include_usage")
        );
        assert_eq!(
            param(chat(r#"{"messages":[{"content":"hi"}]}"#)).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            param(chat(r#"{"messages":[{"role":"user","content":5}]}"#)).as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            param(chat(
                r#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#
            ))
            .as_deref(),
            Some("messages[0].content[0].type")
        );
        assert_eq!(
            param(chat(r#"{"messages":[]}"#)).as_deref(),
            Some("messages")
        );
        assert_eq!(param(chat("{}")).as_deref(), Some("messages"));
        assert_eq!(
            param(completion(r#"{"prompt":["a","b"]}"#)).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(completion(r#"{"prompt":[-1]}"#)).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(completion(r#"{"prompt":{}}"#)).as_deref(),
            Some("prompt")
        );
        // Not JSON, or not an object: 400 with no field.
        for body in ["{", "[]", "null", "\"x\"", ""] {
            let e = completion(body).expect_err(body);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{body}");
        }
    }
}
