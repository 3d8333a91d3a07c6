//! The routes, the API key check and the response counter.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use edgelm_runtime::serve::{Event, Finish, Request as GenRequest};
use futures_core::Stream;
use serde_json::json;

use super::errors::ApiError;
use super::openai::{self, Kind};
use super::reply::Reply;
use super::state::{unix_now, AppState};
use super::{prompt, sink, sse};

type St = State<Arc<AppState>>;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/completions", post(completion))
        .route("/completions", post(completion))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The last layer is the outermost: every response, 401s included, is counted.
        .layer(from_fn_with_state(Arc::clone(&state), auth))
        .layer(from_fn_with_state(Arc::clone(&state), count))
        .with_state(state)
}

async fn count(State(st): St, req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    st.count_response(r.status().as_u16());
    r
}

/// With `--api-key`, everything but `/health` wants `Authorization: Bearer KEY`.
async fn auth(State(st): St, req: Request, next: Next) -> Response {
    if let Some(key) = &st.api_key {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let ok = given.is_some_and(|g| same(g.as_bytes(), key.as_bytes()));
        if !ok && req.uri().path() != "/health" {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guessed key was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

async fn health() -> Response {
    json_response(json!({"status": "ok"}))
}

async fn metrics(State(st): St) -> Response {
    let mut r = st.prometheus().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn models(State(st): St) -> Response {
    json_response(json!({
        "object": "list",
        "data": [{
            "id": st.model_id,
            "object": "model",
            "created": st.started,
            "owned_by": "edgelm",
            "meta": {
                "n_ctx_slot": st.engine.slot_ctx(),
                "slots": st.engine.stats().slots,
                "n_vocab": st.tokenizer.vocab_size(),
            },
        }],
    }))
}

async fn chat(State(st): St, req: Request) -> Response {
    generate(st, req, Kind::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completion(State(st): St, req: Request) -> Response {
    generate(st, req, Kind::Completion)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn generate(st: Arc<AppState>, req: Request, kind: Kind) -> Result<Response, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(ApiError::too_large(st.max_body));
    }
    // Room for the declared length, up to a little: a client that declares a large
    // body and sends nothing must not hold memory for it.
    let capacity = declared.map_or(0, |n| (n as usize).min(st.max_body).min(64 << 10));
    let body = read_body(req.into_body(), st.max_body, capacity).await?;
    let p = openai::parse(&body, kind)?;
    // A short prompt is rendered and tokenized here (well under a millisecond); a long
    // one on the blocking pool, so that it does not hold up the other connections.
    let ids = if body.len() <= INLINE_PROMPT_BYTES {
        prompt::tokens(&st, p.prompt)?
    } else {
        let st = Arc::clone(&st);
        tokio::task::spawn_blocking(move || prompt::tokens(&st, p.prompt))
            .await
            .map_err(|e| ApiError::internal(format!("preparing the prompt failed: {e}")))??
    };
    drop(body);
    let (sink, mut rx) = sink::channel();
    let mut sampler = p.sampler;
    sampler.seed = p.seed.unwrap_or_else(|| st.random_seed());
    st.engine
        .submit(GenRequest {
            prompt: ids,
            max_tokens: p.max_tokens,
            sampler,
            stop: p.stop,
            ignore_eos: p.ignore_eos,
            sink,
        })
        .map_err(|r| prompt::refused(r, kind))?;
    let reply = Reply {
        kind,
        id: st.next_id(match kind {
            Kind::Chat => "chatcmpl",
            Kind::Completion => "cmpl",
        }),
        created: unix_now(),
        model: st.model_id.clone(),
        include_usage: p.include_usage,
    };
    if p.stream {
        return Ok(sse::response(rx, reply));
    }
    // If the client leaves, axum drops this future and `rx` with it: the engine
    // cancels the sequence.
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::Done(o) => {
                return match &o.finish {
                    Finish::Stop | Finish::Length => Ok(json_response(reply.complete(text, &o))),
                    Finish::Error(m) => Err(ApiError::internal(m.clone())),
                    Finish::Cancelled => Err(ApiError::busy("the server is shutting down")),
                };
            }
        }
    }
    Err(ApiError::internal(
        "the engine ended the request without an answer",
    ))
}

/// Request bodies up to this size have their prompt prepared on the I/O thread.
const INLINE_PROMPT_BYTES: usize = 16 << 10;

/// Bytes of an oversized body read and thrown away before the 413 goes out: a
/// client still sending when the server closes gets a broken pipe instead of the 413
/// (HTTP's lingering close problem), so moderately large bodies are drained first.
/// Past this the answer goes at once and the connection closes.
const DRAIN_LIMIT: usize = 16 << 20;

/// The whole body; 413 once it passes `limit` bytes (after draining up to
/// [`DRAIN_LIMIT`]). `capacity`: room to reserve, from the declared length.
async fn read_body(body: Body, limit: usize, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::with_capacity(capacity);
    let mut total = 0usize;
    loop {
        match poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            None if total > limit => return Err(ApiError::too_large(limit)),
            None => return Ok(out),
            Some(Ok(chunk)) => {
                total = total.saturating_add(chunk.len());
                if total <= limit {
                    out.extend_from_slice(&chunk);
                } else if total > DRAIN_LIMIT {
                    return Err(ApiError::too_large(limit));
                } else {
                    // Over the limit: keep reading, keep nothing.
                    out = Vec::new();
                }
            }
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "reading the request body failed: {e}"
                )))
            }
        }
    }
}

fn json_response(v: serde_json::Value) -> Response {
    let mut r = v.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
