//! `stream: true`: the engine's events as server-sent events, one `data:` line per
//! chunk, ending with `data: [DONE]`.
//!
//! The stream owns the request's receiver. When the client disconnects, hyper fails
//! to write (or reads end of file), drops the body and with it the receiver: the
//! engine's sink reports closed and the sequence is cancelled at the next step.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use edgelm_runtime::serve::{Event, Finish};
use futures_core::Stream;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::errors::ApiError;
use super::reply::Reply;

pub fn response(rx: UnboundedReceiver<Event>, reply: Reply) -> Response {
    let stream = Events {
        rx,
        reply,
        started: false,
        done: false,
    };
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers proxied responses by default; this turns that off for the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

struct Events {
    rx: UnboundedReceiver<Event>,
    reply: Reply,
    /// The chat role chunk has gone out.
    started: bool,
    /// `[DONE]` has gone out.
    done: bool,
}

fn data(out: &mut String, v: &Value) {
    out.push_str("data: ");
    out.push_str(&v.to_string());
    out.push_str("\n\n");
}

impl Stream for Events {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut out = String::new();
        if !this.started {
            this.started = true;
            // Sent at once so the client sees the stream open before the first token.
            if this.reply.kind == super::openai::Kind::Chat {
                data(&mut out, &this.reply.role_chunk());
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
        }
        match this.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Event::Text(t))) => data(&mut out, &this.reply.text_chunk(&t)),
            Poll::Ready(Some(Event::Done(o))) => {
                match &o.finish {
                    Finish::Stop | Finish::Length => {
                        data(&mut out, &this.reply.finish_chunk(&o));
                        if this.reply.include_usage {
                            data(&mut out, &this.reply.usage_chunk(&o));
                        }
                    }
                    Finish::Error(m) => data(&mut out, &ApiError::internal(m.clone()).body()),
                    Finish::Cancelled => data(
                        &mut out,
                        &ApiError::busy("the server is shutting down").body(),
                    ),
                }
                out.push_str("data: [DONE]\n\n");
                this.done = true;
            }
            // The engine always ends with Done; if it went away without, end here.
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
        }
        Poll::Ready(Some(Ok(Bytes::from(out))))
    }
}
