//! Delivering one event to the sinks and to this thread's capture.

use super::call_site::CallSite;
use super::capture;
use super::event::{Event, Outcome};
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
    if event.is_sampled() || list.all_want_unsampled {
        for sink in &list.sinks {
            sink.event(&event);
        }
    } else {
        for sink in list.unsampled_sinks() {
            sink.event(&event);
        }
    }
    if capture::any_active() {
        capture::record(event);
    }
}

/// Delivers an exit's timing straight to the sinks when every one of them is a
/// [`Stats`](super::Stats) and nobody captures, without building an event. Returns `false`, having
/// done nothing, otherwise: the caller then builds the event and [`emit`]s it.
#[inline]
pub(crate) fn record_exit_timing(
    site: &'static CallSite,
    nanos: impl FnOnce() -> u64,
    outcome: &Outcome,
) -> bool {
    let list = sink::current();
    if list.only_stats.is_empty() || capture::any_active() {
        return false;
    }
    let nanos = nanos();
    for stats in &list.only_stats {
        stats.record(site, nanos, outcome);
    }
    true
}

/// What the receivers of events emitted on this thread now want.
#[derive(Clone, Copy)]
pub(crate) struct Listeners {
    /// Someone wants entry events.
    pub(crate) wants_enters: bool,
    /// Someone wants the events of unsampled calls (a counting sink, a capture).
    pub(crate) wants_unsampled: bool,
}

/// Who would receive events emitted on this thread now: `None` if nobody.
#[inline]
pub(crate) fn listeners() -> Option<Listeners> {
    let list = sink::current();
    let capturing = capture::this_thread_active();
    if list.sinks.is_empty() && !capturing {
        return None;
    }
    Some(Listeners {
        wants_enters: list.wants_enters || capturing,
        wants_unsampled: list.wants_unsampled || capturing,
    })
}

/// Tells the sinks that want polls that the call resumes on this thread.
#[inline]
pub(crate) fn resume(site: &'static CallSite, call_id: u64) {
    let list = sink::current();
    if list.wants_polls {
        for sink in &list.sinks {
            sink.resume(site, call_id);
        }
    }
}

/// Tells the sinks that want polls that the call suspends on this thread.
#[inline]
pub(crate) fn suspend(site: &'static CallSite, call_id: u64) {
    let list = sink::current();
    if list.wants_polls {
        for sink in &list.sinks {
            sink.suspend(site, call_id);
        }
    }
}
