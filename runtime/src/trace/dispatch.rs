//! Delivering one event to the sinks and to this thread's capture.

use super::call_site::CallSite;
use super::capture;
use super::clock;
use super::event::{Event, EventKind, FieldValue, Outcome, Value};
use super::id::TraceKey;
use super::sink::{self, ExitPath, KeelSink, SinkList};
use super::span::Active;
use super::state::{CAPTURES, STATE};
use super::stats::Stats;
use crate::call::CurrentCall;
use crate::context::Context;
use std::sync::atomic::Ordering;

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
    if (audience.sinks && list.wants.wants_context()) || capturing {
        event.set_context(Context::current());
    }
    if audience.sinks {
        if event.is_sampled() || list.all_want_unsampled {
            for installed in &list.sinks {
                installed.sink.event(&event);
            }
        } else {
            for installed in list.unsampled_sinks() {
                installed.sink.event(&event);
            }
        }
    }
    if capturing {
        capture::record(event);
    }
}

/// What a finished call tells the sinks that exits reach directly.
pub(crate) struct FinishedCall<'a> {
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
    pub(crate) value: Option<&'a Value>,
}

/// Reports the exit of the traced call `call` (its clock read `end` at the exit) by the path
/// the installed sinks were given when they were added ([`ExitPath`]): straight into
/// [`Stats`](super::Stats) sinks, straight to keel's own sinks, or as an [`Event`] to every sink
/// and this thread's capture. A capture running anywhere sends the exit down the event path, so
/// it can be captured.
///
/// The `Stats`-only path is inlined into the span's exit; the others are a call away, so that
/// their frames (an [`Event`], an export record) cost the leanest path nothing.
#[inline(always)]
pub(crate) fn exit(call: &Active, end: u64, outcome: Outcome, value: Option<Value>) {
    let list = sink::current();
    if let Some((all, nanos)) = direct_to_stats(list, call, end) {
        for stats in all {
            stats.record(call.site, nanos, &outcome);
        }
        return;
    }
    exit_to_sinks(list, call, end, outcome, value);
}

/// Hands the entry fields of call `call_id` straight to keel's own sinks, with no [`Event`]
/// built, when every installed sink is one of them, the call was entered for the sinks and
/// no capture runs (as [`exit`] does for exits): the OTLP sinks queue the fields as recorded
/// (sampled calls only, as through [`emit`]); `Stats` takes no entries. False when the entry
/// must go as an event.
#[inline]
pub(crate) fn enter_direct(
    audience: Audience,
    call_id: u64,
    trace: TraceKey,
    fields: &[(&'static str, FieldValue<'_>)],
) -> bool {
    let list = sink::current();
    let ExitPath::KeelSinks(all) = &list.exits else {
        return false;
    };
    if !audience.sinks || STATE.load(Ordering::Relaxed) & CAPTURES != 0 {
        return false;
    }
    #[cfg(feature = "otlp")]
    if trace.is_sampled() && !fields.is_empty() {
        for sink in all {
            if let KeelSink::Otlp(otlp) = sink {
                otlp.record_entry(call_id, fields);
            }
        }
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (all, call_id, trace, fields);
    true
}

/// [`exit`] with [`Outcome::Ok`] and no value, the outcome a constant the compiler sees through.
#[inline(always)]
pub(crate) fn exit_ok(call: &Active, end: u64) {
    let list = sink::current();
    if let Some((all, nanos)) = direct_to_stats(list, call, end) {
        for stats in all {
            stats.record(call.site, nanos, &Outcome::Ok);
        }
        return;
    }
    exit_to_sinks(list, call, end, Outcome::Ok, None);
}

/// The `Stats` sinks and the call's duration, if the exit goes straight into them: every sink is
/// a `Stats`, the call was entered for the sinks, and no capture runs.
#[inline(always)]
fn direct_to_stats<'a>(list: &'a SinkList, call: &Active, end: u64) -> Option<(&'a [Stats], u64)> {
    match &list.exits {
        ExitPath::StatsOnly(all)
            if call.audience.sinks && STATE.load(Ordering::Relaxed) & CAPTURES == 0 =>
        {
            Some((all, clock::elapsed_nanos(call.start, end)))
        }
        _ => None,
    }
}

/// [`exit`] by any path but the direct `Stats`-only one.
#[inline(never)]
fn exit_to_sinks(list: &SinkList, call: &Active, end: u64, outcome: Outcome, value: Option<Value>) {
    let state = STATE.load(Ordering::Relaxed);
    let direct = call.audience.sinks && state & CAPTURES == 0;
    // A direct exit into `Stats`-only sinks was taken by `exit` itself; `Stats`-only sinks come
    // here when a capture runs or the call was entered for a capture alone, and take the event
    // path (as they do if a capture ended between `exit`'s look at the state and this one).
    match &list.exits {
        ExitPath::KeelSinks(all) if direct => {
            let exit = FinishedCall {
                site: call.site,
                call_id: call.call_id,
                trace: call.trace,
                parent: call.parent(),
                end,
                elapsed_nanos: clock::elapsed_nanos(call.start, end),
                outcome: &outcome,
                value: value.as_ref(),
            };
            for sink in all {
                match sink {
                    KeelSink::Stats(stats) => {
                        stats.record(exit.site, exit.elapsed_nanos, exit.outcome);
                    }
                    // Exporters see sampled calls only, as through `emit`.
                    #[cfg(feature = "otlp")]
                    KeelSink::Otlp(otlp) => {
                        if exit.trace.is_sampled() {
                            otlp.record_exit(&exit);
                        }
                    }
                }
            }
        }
        _ => {
            let elapsed = clock::elapsed(call.start, end);
            let fields = value.map(|v| vec![("return", v)]).unwrap_or_default();
            emit(
                Event::new(
                    EventKind::Exit { elapsed, outcome },
                    call.site,
                    call.call_id,
                    call.trace,
                    call.parent(),
                    fields,
                )
                .with_end_raw(end),
                call.audience,
            );
        }
    }
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
        wants_enters: (sinks && list.wants.wants_enters()) || capturing,
        wants_bare_enters: (sinks && list.wants.wants_enters_without_fields()) || capturing,
        wants_unsampled: (sinks && list.wants.wants_unsampled()) || capturing,
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
    if list.wants.wants_polls() {
        for installed in &list.sinks {
            installed.sink.resume(site, call_id);
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
    if list.wants.wants_polls() {
        for installed in &list.sinks {
            installed.sink.suspend(site, call_id);
        }
    }
}
