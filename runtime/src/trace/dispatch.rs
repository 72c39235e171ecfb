//! Delivering one event to the sinks and to this thread's capture.

use super::capture;
use super::event::Event;
use super::sink;

/// Sends `event` to every sink, then moves it into this thread's capture, if any.
pub(crate) fn emit(event: Event) {
    for sink in sink::current() {
        sink.event(&event);
    }
    if capture::any_active() {
        capture::record(event);
    }
}

/// Whether anything would receive an event emitted on this thread now.
#[inline]
pub(crate) fn anyone_listening() -> bool {
    !sink::is_empty() || capture::this_thread_active()
}
