//! Delivering one event to the sinks and to this thread's capture.

use super::capture;
use super::event::Event;
use super::sink;
use crate::context::Context;

/// Sends `event` to every sink, then moves it into this thread's capture, if any.
/// The event gets the thread's context snapshot first when a sink reads it or this thread is
/// capturing.
pub(crate) fn emit(mut event: Event) {
    let list = sink::current();
    if list.wants_context || capture::this_thread_active() {
        event.set_context(Context::current());
    }
    for sink in &list.sinks {
        sink.event(&event);
    }
    if capture::any_active() {
        capture::record(event);
    }
}

/// The installed sinks.
#[inline]
pub(crate) fn sinks() -> &'static sink::SinkList {
    sink::current()
}

/// Whether any thread is capturing events (cheap: one relaxed load).
#[inline]
pub(crate) fn capturing() -> bool {
    capture::any_active()
}

/// Who would receive events emitted on this thread now: `None` if nobody, else whether anyone
/// wants entry events.
#[inline]
pub(crate) fn listeners() -> Option<bool> {
    let list = sink::current();
    let capturing = capture::this_thread_active();
    if list.sinks.is_empty() && !capturing {
        return None;
    }
    Some(list.wants_enters || capturing)
}
