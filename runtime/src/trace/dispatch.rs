//! Delivering one event to the sinks and to this thread's capture.

use super::capture;
use super::event::Event;
use super::sink;

/// Sends `event` to every sink, then moves it into this thread's capture, if any.
pub(crate) fn emit(event: Event) {
    for sink in &sink::current().sinks {
        sink.event(&event);
    }
    if capture::any_active() {
        capture::record(event);
    }
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
