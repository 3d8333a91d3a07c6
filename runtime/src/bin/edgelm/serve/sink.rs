//! The engine's [`Sink`] for an HTTP request: an unbounded tokio channel to the task
//! answering it. When the client goes away axum drops that task's receiver (a
//! streaming body, or the future of a plain response), the channel closes, and the
//! scheduler sees `is_closed` at its next step and frees the slot.

use edgelm_runtime::serve::{Event, Sink};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

pub struct ChannelSink(UnboundedSender<Event>);

impl Sink for ChannelSink {
    fn send(&mut self, event: Event) -> bool {
        // Unbounded: the scheduler thread must never wait on a slow client. What
        // queues up is bounded by the request's tokens.
        self.0.send(event).is_ok()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

pub fn channel() -> (Box<ChannelSink>, UnboundedReceiver<Event>) {
    let (tx, rx) = unbounded_channel();
    (Box::new(ChannelSink(tx)), rx)
}
