//! Delivering one event to the sinks and to this thread's capture.

use super::call_site::CallSite;
use super::capture;
use super::event::{Event, Outcome};
use super::id::TraceKey;
use super::sink::{self, Direct};
use super::state::CAPTURES;
use crate::context::Context;
use crate::context::call::CurrentCall;

/// Who receives a traced call's events, decided when it is entered.
#[derive(Clone, Copy)]
pub(crate) struct Audience {
    /// The installed sinks: tracing is on and the filter lets the site through.
    pub(crate) sinks: bool,
}

/// Sends `event` to every sink (when `audience.sinks`), then moves it into this thread's capture,
/// if any. The event gets the thread's context snapshot first when a sink reads it or this thread
/// is capturing.
pub(crate) fn emit(mut event: Event, audience: Audience) {
    let list = sink::current();
    let capturing = capture::this_thread_active();
    if (audience.sinks && list.wants_context) || capturing {
        event.set_context(Context::current());
    }
    if audience.sinks {
        if event.is_sampled() || list.all_want_unsampled {
            for sink in &list.sinks {
                sink.event(&event);
            }
        } else {
            for sink in list.unsampled_sinks() {
                sink.event(&event);
            }
        }
    }
    if capturing {
        capture::record(event);
    }
}

/// Delivers an exit's timing straight to the sinks when every one of them is a
/// [`Stats`](super::Stats) and nobody captures, without building an event. Returns `false`, having
/// done nothing, otherwise.
#[inline]
pub(crate) fn record_exit_timing(
    site: &'static CallSite,
    nanos: impl FnOnce() -> u64,
    outcome: &Outcome,
    audience: Audience,
    state: u64,
) -> bool {
    let list = sink::current();
    if !audience.sinks || list.only_stats.is_empty() || state & CAPTURES != 0 {
        return false;
    }
    let nanos = nanos();
    for stats in &list.only_stats {
        stats.record(site, nanos, outcome);
    }
    true
}

/// What a finished call tells the sinks that exits reach directly.
pub(crate) struct Exit<'a> {
    pub(crate) site: &'static CallSite,
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) call_id: u64,
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) trace: TraceKey,
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) parent: Option<CurrentCall>,
    /// Raw clock reading at the exit.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) end: u64,
    pub(crate) elapsed_nanos: u64,
    pub(crate) outcome: &'a Outcome,
    /// The return value, when recorded.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) value: Option<&'a str>,
}

/// Delivers an exit straight to the sinks when every one of them can be reached directly
/// ([`Stats`](super::Stats) and at least one OTLP sink) and nobody captures, without building an
/// event. Returns `false`, having done nothing, otherwise: the caller then builds the event and
/// [`emit`]s it.
#[inline]
pub(crate) fn record_exit_direct(exit: &Exit<'_>, audience: Audience, state: u64) -> bool {
    let list = sink::current();
    if !audience.sinks || list.direct.is_empty() || state & CAPTURES != 0 {
        return false;
    }
    for sink in &list.direct {
        match sink {
            Direct::Stats(stats) => stats.record(exit.site, exit.elapsed_nanos, exit.outcome),
            // Exporters see sampled calls only, as through `emit`.
            #[cfg(feature = "otlp")]
            Direct::Otlp(otlp) => {
                if exit.trace.is_sampled() {
                    otlp.record_exit(exit);
                }
            }
        }
    }
    true
}

/// What the receivers of a call's events want, decided when it is entered.
#[derive(Clone, Copy)]
pub(crate) struct Listeners {
    /// Who receives them.
    pub(crate) audience: Audience,
    /// Someone wants entry events.
    pub(crate) wants_enters: bool,
    /// Someone wants entry events that carry no fields.
    pub(crate) wants_bare_enters: bool,
    /// Someone wants the events of unsampled calls (a counting sink, a capture).
    pub(crate) wants_unsampled: bool,
}

/// Whether anyone would receive events of a call entered on this thread now, given the `state`
/// word and whether the filter lets the site through (asked only when it matters): `None` if
/// nobody.
#[inline]
pub(crate) fn listeners(state: u64, allowed: impl FnOnce() -> bool) -> Option<Listeners> {
    let capturing = state & CAPTURES != 0 && capture::this_thread_active();
    let list = sink::current();
    let sinks = state & super::state::ON != 0 && !list.sinks.is_empty() && allowed();
    if !sinks && !capturing {
        return None;
    }
    Some(Listeners {
        audience: Audience { sinks },
        wants_enters: (sinks && list.wants_enters) || capturing,
        wants_bare_enters: (sinks && list.wants_bare_enters) || capturing,
        wants_unsampled: (sinks && list.wants_unsampled) || capturing,
    })
}

/// Tells the sinks that want polls that the call resumes on this thread (only if the sinks are
/// its audience: a call only a capture sees was never entered for them).
#[inline]
pub(crate) fn resume(site: &'static CallSite, call_id: u64, audience: Audience) {
    if !audience.sinks {
        return;
    }
    let list = sink::current();
    if list.wants_polls {
        for sink in &list.sinks {
            sink.resume(site, call_id);
        }
    }
}

/// Tells the sinks that want polls that the call suspends on this thread (only if the sinks are
/// its audience: a call only a capture sees was never entered for them).
#[inline]
pub(crate) fn suspend(site: &'static CallSite, call_id: u64, audience: Audience) {
    if !audience.sinks {
        return;
    }
    let list = sink::current();
    if list.wants_polls {
        for sink in &list.sinks {
            sink.suspend(site, call_id);
        }
    }
}
