//! `Span`: the guard that times one call and reports its entry and exit.

use super::call_site::CallSite;
use super::clock;
use super::dispatch;
use super::dispatch::Audience;
use super::event::{Event, EventKind, FieldValue, Outcome, Value};
use super::id::TraceKey;
use super::sampler;
use super::sink;
use super::state::{self, CAPTURES, GENERATION, ON, STATE};
use crate::call::{self, CurrentCall};
use core::fmt::{self, Debug, Display};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Times one call of a [`CallSite`]: [`Span::enter`] emits the entry event, [`Span::finish`]
/// the exit with its duration and [`Outcome`].
///
/// This is the non-macro way to report a timed operation through `keel::trace` (what
/// `#[keel::instrument]` generates, and what `#[keel::transaction]` uses). A span dropped without
/// `finish` reports [`Outcome::Panicked`] while its thread is panicking and
/// [`Outcome::Cancelled`] otherwise (an abandoned future). When nothing listens (tracing is off
/// or the filter excludes the site, and no [`capture`](fn@super::capture) runs on this thread), the
/// span is inactive and costs nothing more.
///
/// Durations come from the CPU's time-stamp counter (through `quanta`), a few nanoseconds per
/// reading, where `std::time::Instant::now()` costs tens.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span};
/// static COMMIT: CallSite = CallSite::new("mylib::tx::commit", module_path!(), file!(), line!());
///
/// fn commit(fail: bool) -> Result<(), std::io::Error> {
///     let span = Span::enter(&COMMIT);
///     let result = if fail { Err(std::io::Error::other("disk full")) } else { Ok(()) };
///     span.finish_result(&result);
///     result
/// }
///
/// trace::enable();
/// let (_, events) = trace::capture(|| {
///     commit(false).unwrap();
///     let _ = commit(true);
///     drop(Span::enter(&COMMIT)); // abandoned
/// });
/// let outcomes: Vec<_> = events.iter().filter_map(|e| e.outcome().cloned()).collect();
/// assert_eq!(outcomes, [Outcome::Ok, Outcome::Err("disk full".into()), Outcome::Cancelled]);
/// ```
#[must_use = "a span reports its exit when finished or dropped; bind it to a variable"]
pub struct Span {
    active: Option<Active>,
}

pub(super) struct Active {
    pub(super) site: &'static CallSite,
    pub(super) call_id: u64,
    /// Whether the sinks see this call (else only a capture does).
    pub(super) audience: Audience,
    /// The trace this call belongs to (its parent's, or a new one for a root).
    pub(super) trace: TraceKey,
    /// False for an unsampled call that only sinks exporting sampled spans would see: it emits
    /// nothing, keeping only its place as the current call so its children inherit the decision.
    recorded: bool,
    /// Raw clock reading at entry.
    pub(super) start: u64,
    /// The call that was current when this one started, its parent: its id and site (its trace
    /// is this call's, see [`Active::parent`]).
    parent: Option<(u64, &'static CallSite)>,
    /// Whether the call has been resumed by a poll ([`Span::scope`]): then what to make current
    /// again when it stops being current is `poll_outer`, not its parent.
    polled: bool,
    /// For a call resumed poll after poll, whatever the polling thread had current before the
    /// latest poll (`None` until the first). See [`Active::outer`].
    poll_outer: Option<CurrentCall>,
}

impl Active {
    /// Call `call_id` of `site`, made current in place of `outer` (its parent), entering now:
    /// its clock starts here if it is `recorded` (after any entry event, which its time leaves
    /// out).
    #[inline(always)]
    fn started(
        site: &'static CallSite,
        call_id: u64,
        trace: TraceKey,
        outer: Option<CurrentCall>,
        audience: Audience,
        recorded: bool,
    ) -> Self {
        Active {
            site,
            call_id,
            audience,
            trace,
            recorded,
            start: if recorded { clock::now() } else { 0 },
            parent: outer.map(|parent| (parent.call_id, parent.site)),
            polled: false,
            poll_outer: None,
        }
    }

    /// The call that was current when this one started: its parent, which a call always shares
    /// its trace with.
    #[inline]
    pub(super) fn parent(&self) -> Option<CurrentCall> {
        self.parent.map(|(call_id, site)| CurrentCall {
            call_id,
            site,
            trace: self.trace,
        })
    }

    /// What to make current again when this call stops being current: the parent for a
    /// synchronous call (nothing more to store on entry); for a call that is resumed poll after
    /// poll ([`Span::scope`]), whatever the polling thread had before the latest poll.
    #[inline]
    fn outer(&self) -> Option<CurrentCall> {
        if self.polled {
            self.poll_outer
        } else {
            self.parent()
        }
    }

    #[inline]
    pub(super) fn this(&self) -> CurrentCall {
        CurrentCall {
            call_id: self.call_id,
            site: self.site,
            trace: self.trace,
        }
    }
}

impl Span {
    /// Enters `site`: emits its entry event (if traced) and starts the clock.
    #[inline]
    pub fn enter(site: &'static CallSite) -> Self {
        enter_instrumented(site, None, &[])
    }

    /// Like [`Span::enter`], recording named values (in `Debug` form) as the entry's fields.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static SITE: CallSite = CallSite::new("doc::span::load", "doc::span", "s.rs", 1);
    /// trace::enable();
    /// let id = 7u64;
    /// let (_, events) = trace::capture(|| Span::enter_with(&SITE, &[("id", &id)]).finish(Outcome::Ok));
    /// assert_eq!(events[0].field("id"), Some("7"));
    /// assert_eq!(events[0].to_string(), "enter doc::span::load(id=7)");
    /// ```
    #[inline]
    pub fn enter_with(site: &'static CallSite, fields: &[(&'static str, &dyn Debug)]) -> Self {
        if STATE.load(Ordering::Relaxed) & (ON | CAPTURES) == 0 {
            return Span::inactive();
        }
        let fields: Vec<(&'static str, FieldValue<'_>)> = fields
            .iter()
            .map(|(name, value)| (*name, FieldValue::Debug(*value)))
            .collect();
        enter_instrumented(site, None, &fields)
    }

    /// Like [`Span::enter_with`], recording typed values: an integer, a float, a `bool` or a
    /// string reaches a sink as that type (OTLP's `int_value`, `string_value`, ..), with no
    /// text made on this thread; see [`FieldValue`].
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, FieldValue, Outcome, Span};
    /// static SITE: CallSite = CallSite::new("doc::span::fetch", "doc::span", "s.rs", 1);
    /// trace::enable();
    /// let (_, events) = trace::capture(|| {
    ///     Span::enter_with_values(&SITE, &[("id", 7u64.into()), ("path", "/a".into())])
    ///         .finish(Outcome::Ok)
    /// });
    /// assert_eq!(events[0].to_string(), r#"enter doc::span::fetch(id=7, path="/a")"#);
    /// ```
    #[inline]
    pub fn enter_with_values(
        site: &'static CallSite,
        fields: &[(&'static str, FieldValue<'_>)],
    ) -> Self {
        enter_instrumented(site, None, fields)
    }

    /// A span that reports nothing (what `enter` returns while tracing is off).
    ///
    /// ```
    /// assert!(!keel_runtime::trace::Span::inactive().is_active());
    /// ```
    pub const fn inactive() -> Self {
        Self { active: None }
    }

    /// True when this call is being traced (its exit will be reported).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Ends the call with `outcome`.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.finish_in_place(outcome);
    }

    /// Ends the call with `outcome`, recording `value` (in `Debug` form) as the exit's
    /// `"return"` field.
    #[inline]
    pub fn finish_with_value(mut self, outcome: Outcome, value: &dyn Debug) {
        self.finish_in_place_with_value(outcome, FieldValue::Debug(value));
    }

    /// Ends the call with `outcome`, recording the typed `value` as the exit's `"return"` field
    /// (see [`FieldValue`]).
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static SITE: CallSite = CallSite::new("doc::span::status", "doc::span", "s.rs", 1);
    /// trace::enable();
    /// let (_, events) = trace::capture(|| {
    ///     Span::enter(&SITE).finish_with_typed_value(Outcome::Ok, 204u16.into())
    /// });
    /// assert_eq!(events[1].field("return"), Some("204"));
    /// ```
    #[inline]
    pub fn finish_with_typed_value(mut self, outcome: Outcome, value: FieldValue<'_>) {
        self.finish_in_place_with_value(outcome, value);
    }

    /// [`finish`](Self::finish) without moving the span: what generated code calls, because
    /// moving a span (112 bytes) into a by-value call copies it through memory first, a
    /// measurable share of a traced call. The span is inactive afterwards; its drop does
    /// nothing.
    #[doc(hidden)]
    #[inline]
    pub fn finish_in_place(&mut self, outcome: Outcome) {
        if let Some(active) = &self.active {
            exit(active, outcome, None);
            self.active = None;
        }
    }

    /// [`finish_with_value`](Self::finish_with_value) without moving the span.
    #[doc(hidden)]
    #[inline]
    pub fn finish_in_place_with_value(&mut self, outcome: Outcome, value: FieldValue<'_>) {
        if let Some(active) = &self.active {
            exit(active, outcome, Some(value.to_value()));
            self.active = None;
        }
    }

    /// Ends the call with the outcome of `result`: `Ok`, or `Err` with the error's `Display`.
    #[inline]
    pub fn finish_result<T, E: Display>(mut self, result: &Result<T, E>) {
        if let Some(active) = &self.active {
            let outcome = match result {
                Ok(_) => Outcome::Ok,
                Err(error) => Outcome::Err(error.to_string()),
            };
            exit(active, outcome, None);
            self.active = None;
        }
    }
}

impl Span {
    /// Carries this span through `future`: the call is current on the polling thread during
    /// each poll of `future` and stops being so when the poll returns, so what the future calls
    /// after any `.await`, on whichever thread polls it, has this call as its parent, and
    /// nothing stays current on a worker thread between polls. The span comes back with the
    /// output, still current, to be finished with the outcome (what `#[keel::instrument]`
    /// generates for an `async fn`, and what async library code uses for its own operations).
    ///
    /// A future dropped before completion reports [`Outcome::Cancelled`]; one whose poll panics
    /// reports [`Outcome::Panicked`].
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// use std::future::Future;
    /// static FETCH: CallSite = CallSite::new("mylib::fetch", module_path!(), file!(), line!());
    ///
    /// async fn fetch(key: &str) -> Result<String, String> {
    ///     let span = Span::enter(&FETCH);
    ///     let (span, result) = span
    ///         .scope(async {
    ///             std::future::ready(()).await; // any .await: the call is entered per poll
    ///             Ok::<_, String>(format!("value of {key}"))
    ///         })
    ///         .await;
    ///     span.finish_result(&result);
    ///     result
    /// }
    ///
    /// trace::enable();
    /// let (value, events) = trace::capture(|| {
    ///     // Any executor; this one polls once, which is enough here.
    ///     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    ///     std::pin::pin!(fetch("k")).poll(&mut cx)
    /// });
    /// assert_eq!(value, std::task::Poll::Ready(Ok("value of k".to_string())));
    /// assert_eq!(events[1].outcome(), Some(&Outcome::Ok));
    /// ```
    pub fn scope<F: core::future::Future>(mut self, future: F) -> super::SpanFuture<F> {
        // Between polls the call is not current anywhere: stop it now, resume it in each poll.
        self.suspend();
        super::span_future::SpanFuture::new(self, future)
    }

    /// Makes the call current on this thread again (a poll begins).
    #[inline]
    pub(super) fn resume(&mut self) {
        if let Some(active) = &mut self.active {
            active.poll_outer = call::replace(Some(active.this()));
            active.polled = true;
            if active.recorded {
                dispatch::resume(active.site, active.call_id, active.audience);
            }
        }
    }

    /// Stops the call being current on this thread (a poll returned `Pending`).
    #[inline]
    pub(super) fn suspend(&mut self) {
        if let Some(active) = &self.active {
            if active.recorded {
                dispatch::suspend(active.site, active.call_id, active.audience);
            }
            call::set(active.outer());
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if let Some(active) = &self.active {
            abandon(active);
        }
    }
}

/// A span dropped without `finish`: unwound by a panic, or its future dropped.
#[cold]
#[inline(never)]
fn abandon(active: &Active) {
    let outcome = if std::thread::panicking() {
        Outcome::Panicked
    } else {
        Outcome::Cancelled
    };
    exit(active, outcome, None);
}

impl Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.active {
            Some(active) => f
                .debug_struct("Span")
                .field("name", &active.site.name())
                .field("call_id", &active.call_id)
                .finish(),
            None => f.write_str("Span(inactive)"),
        }
    }
}

/// The entry point generated code calls. `self_type` names `Self` for a method instrumented on
/// its own, so that its name can include the type.
#[doc(hidden)]
#[inline(always)]
pub fn enter_instrumented(
    site: &'static CallSite,
    self_type: Option<fn() -> &'static str>,
    fields: &[(&'static str, FieldValue<'_>)],
) -> Span {
    // One load: off and nobody capturing is the common case.
    let state = STATE.load(Ordering::Relaxed);
    if state & (ON | CAPTURES) == 0 {
        return Span::inactive();
    }
    enter_traced(site, state, self_type, fields)
}

#[inline(never)]
fn enter_traced(
    site: &'static CallSite,
    mut state: u64,
    self_type: Option<fn() -> &'static str>,
    fields: &[(&'static str, FieldValue<'_>)],
) -> Span {
    if state & GENERATION == 0 {
        state::ensure_initialized();
        state = STATE.load(Ordering::Acquire);
    }
    let list = sink::current();
    // The common case, decided from the state word and the sink list alone: tracing on, no
    // capture running anywhere, and the sinks want no entry event (a `Stats` does not). The call
    // then only needs the filter's cached verdict, its place as the current call and the clock.
    if state & (ON | CAPTURES) == ON && !list.wants.wants_enters() && !list.sinks.is_empty() {
        if let Some(type_name) = self_type {
            site.resolve_self_type(type_name);
        }
        if !site.passes_filter(state) {
            return Span::inactive();
        }
        return Span {
            active: Some(fast_active(site, list)),
        };
    }
    enter_listened(site, state, self_type, fields)
}

/// The active span of the common traced case ([`enter_traced`]'s fast path, and
/// [`enter_into`]'s): `site` becomes the current call, seen by the sinks. Inlined into both, so
/// that `enter_into` still writes the fields straight into its slot.
#[inline(always)]
fn fast_active(site: &'static CallSite, list: &sink::SinkList) -> Active {
    let (call_id, outer, trace) = become_current(site);
    let recorded = trace.is_sampled() || list.wants.wants_unsampled();
    Active::started(
        site,
        call_id,
        trace,
        outer,
        Audience { sinks: true },
        recorded,
    )
}

/// [`Span::enter`] building the span in `out` (what `cargo keel`'s entry point,
/// `trace::foreign`, calls with the slot an instrumented dependency reserved): true when the
/// span there is active, false when `out` was left untouched. The common traced case (tracing
/// on, no capture anywhere, no sink wanting entry events: what [`enter_traced`] decides first)
/// writes the span's fields straight into `out` (a `Span` returned by value would be copied
/// into it, 112 bytes, a fifth of a `Stats` call's instructions); anything else takes the
/// generic entry. Inlined into its one caller, so that a traced foreign call makes one call to
/// enter, as `#[keel::instrument]` code does. Its fast path takes the same decisions as
/// [`enter_traced`]'s and builds the span with the same [`fast_active`] (`trace::foreign`'s tests
/// compare the two).
///
/// # Safety
/// `out` is valid for writes of a [`Span`] and aligned for one; whatever it holds is
/// overwritten, not dropped.
#[inline(always)]
pub(crate) unsafe fn enter_into(site: &'static CallSite, out: *mut Span) -> bool {
    let state = STATE.load(Ordering::Relaxed);
    if state & (ON | CAPTURES) == 0 {
        return false;
    }
    if state & GENERATION != 0 && state & (ON | CAPTURES) == ON {
        let list = sink::current();
        if !list.wants.wants_enters() && !list.sinks.is_empty() {
            if !site.passes_filter(state) {
                return false;
            }
            // SAFETY: the caller's contract.
            unsafe {
                out.write(Span {
                    active: Some(fast_active(site, list)),
                });
            }
            return true;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { enter_into_generic(site, state, out) }
}

/// [`enter_into`] by [`enter_traced`]: first call (state not initialised), captures, sinks
/// that want entry events. The span is moved into `out`.
///
/// # Safety
/// As for [`enter_into`].
#[cold]
#[inline(never)]
unsafe fn enter_into_generic(site: &'static CallSite, state: u64, out: *mut Span) -> bool {
    let span = enter_traced(site, state, None, &[]);
    if !span.is_active() {
        return false;
    }
    // SAFETY: the caller's contract.
    unsafe { out.write(span) };
    true
}

/// [`Span::finish_in_place`] with [`Outcome::Ok`] for a span that is never used again: the
/// exit is reported and the call it found current restored, and the span is left as it is, not
/// to be dropped (nothing in a span owns memory, so forgetting it leaks nothing). A tail call
/// into the exit for `cargo keel`'s `keel_foreign_exit_ok`.
///
/// # Safety
/// `span` points to a valid [`Span`] that is neither used nor dropped afterwards.
#[inline(always)]
pub(crate) unsafe fn finish_ok_and_forget(span: *const Span) {
    // SAFETY: the caller's contract.
    if let Some(active) = unsafe { &(*span).active } {
        exit_ok(active);
    }
}

// What lets [`finish_ok_and_forget`] skip the drop: only `Span`'s own `Drop` (which reports an
// unfinished call) does anything when a span goes.
const _: () = assert!(!core::mem::needs_drop::<Active>());

/// [`enter_traced`] when a capture runs or some sink wants entry events.
#[inline(never)]
fn enter_listened(
    site: &'static CallSite,
    state: u64,
    self_type: Option<fn() -> &'static str>,
    fields: &[(&'static str, FieldValue<'_>)],
) -> Span {
    let resolve = || {
        if let Some(type_name) = self_type {
            site.resolve_self_type(type_name);
        }
    };
    let allowed = || {
        resolve();
        site.passes_filter(state)
    };
    let Some(listeners) = dispatch::listeners(state, allowed) else {
        return Span::inactive();
    };
    resolve();
    let (call_id, outer, trace) = become_current(site);
    let recorded = trace.is_sampled() || listeners.wants_unsampled;
    if recorded
        && listeners.wants_enters
        && (listeners.wants_bare_enters || !fields.is_empty())
        && !dispatch::enter_direct(listeners.audience, call_id, trace, fields)
    {
        let fields = fields
            .iter()
            .map(|(name, value)| (*name, value.to_value()))
            .collect();
        dispatch::emit(
            Event::new(EventKind::Enter, site, call_id, trace, outer, fields),
            listeners.audience,
        );
    }
    Span {
        active: Some(Active::started(
            site,
            call_id,
            trace,
            outer,
            listeners.audience,
            recorded,
        )),
    }
}

/// Gives a call entering `site` its id and trace and makes it the current call (from here to its
/// exit, its entry event included); returns the id, the call it replaces (its parent) and the
/// trace.
#[inline(always)]
fn become_current(site: &'static CallSite) -> (u64, Option<CurrentCall>, TraceKey) {
    let call_id = next_call_id();
    let outer = call::current();
    let trace = match outer {
        Some(parent) => parent.trace,
        None => new_trace(call_id),
    };
    call::set(Some(CurrentCall {
        call_id,
        site,
        trace,
    }));
    (call_id, outer, trace)
}

/// The trace a root call `call_id` starts, with the sampler's decision.
#[inline]
fn new_trace(call_id: u64) -> TraceKey {
    let sampled = sampler::keeps_all() || sampler::keeps(super::id::root_trace_id(call_id));
    TraceKey::local_root(call_id, sampled)
}

/// Ends the call: reports its exit (if recorded) and restores the call it found current. A plain
/// `Ok` with no value (what most calls return, and what generated code knows at compile time
/// for a function that returns no `Result`) takes a path of its own, with no outcome to move or
/// drop.
#[inline(always)]
fn exit(active: &Active, outcome: Outcome, value: Option<Value>) {
    if value.is_none() && matches!(outcome, Outcome::Ok) {
        exit_ok(active);
    } else {
        exit_with(active, outcome, value);
    }
}

#[inline(never)]
fn exit_ok(active: &Active) {
    if active.recorded {
        dispatch::exit_ok(active, clock::now());
    }
    // The exit was the last thing this call did as the current one.
    call::set(active.outer());
}

#[inline(never)]
fn exit_with(active: &Active, outcome: Outcome, value: Option<Value>) {
    if active.recorded {
        dispatch::exit(active, clock::now(), outcome, value);
    }
    call::set(active.outer());
}

thread_local! {
    /// The last call id handed out on this thread (0 before the first).
    static NEXT_CALL: Cell<u64> = const { Cell::new(0) };
}

/// Thread number in the top 24 bits, a per-thread counter below: unique without a shared
/// counter on the hot path.
fn next_call_id() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(1);
    NEXT_CALL
        .try_with(|next| {
            let mut id = next.get();
            if id == 0 {
                id = THREADS.fetch_add(1, Ordering::Relaxed) << 40;
            }
            id += 1;
            next.set(id);
            id
        })
        .unwrap_or_else(|_| THREADS.fetch_add(1, Ordering::Relaxed) << 40)
}

/// Whether call `call_id` was entered on this thread (its id carries this thread's number):
/// false for an async call that started on another thread and finishes here.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
#[inline]
pub(crate) fn entered_on_this_thread(call_id: u64) -> bool {
    NEXT_CALL
        .try_with(|next| {
            let last = next.get();
            last != 0 && last >> 40 == call_id >> 40
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::Span;
    use crate::call::current;
    use crate::context::{self, Context};
    use crate::trace::{self, CallSite, Outcome};

    static OUTER: CallSite = CallSite::new("unit::call::outer", "unit::call", "call.rs", 1);
    static INNER: CallSite = CallSite::new("unit::call::inner", "unit::call", "call.rs", 2);

    fn id() -> Option<u64> {
        current().map(|call| call.call_id)
    }

    #[test]
    fn a_span_is_the_current_call_until_its_exit_and_restores_its_parent() {
        trace::enable();
        let ((), events) = trace::capture(|| {
            assert_eq!(id(), None);
            let outer = Span::enter(&OUTER);
            let outer_id = id().expect("the span is current");
            let inner = Span::enter(&INNER);
            assert_ne!(id(), Some(outer_id));
            inner.finish(Outcome::Ok);
            assert_eq!(id(), Some(outer_id), "the inner exit restored its parent");
            drop(outer);
            assert_eq!(id(), None);
        });
        let [outer_enter, inner_enter, inner_exit, outer_exit] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(outer_enter.parent_call().map(|c| c.call_id), None);
        for inner in [inner_enter, inner_exit] {
            assert_eq!(
                inner.parent_call().map(|c| c.call_id),
                Some(outer_enter.call_id())
            );
        }
        assert_eq!(outer_exit.parent_call().map(|c| c.call_id), None);
    }

    #[test]
    fn a_context_snapshot_carries_the_current_call_into_the_thread_it_is_handed_to() {
        trace::enable();
        trace::capture(|| {
            let outer = Span::enter(&OUTER);
            let outer_id = id();
            let snapshot = Context::current();
            assert_eq!(snapshot.call().map(|c| c.call_id), outer_id);
            // Another thread's calls started in the snapshot have the caller as parent.
            let (in_spawn, parent) = context::spawn(|| {
                let ((), events) = trace::capture(|| Span::enter(&INNER).finish(Outcome::Ok));
                (id(), events[0].parent_call().map(|c| c.call_id))
            })
            .join()
            .unwrap();
            assert_eq!(in_spawn, outer_id);
            assert_eq!(parent, outer_id);
            assert_eq!(std::thread::spawn(id).join().unwrap(), None);
            drop(outer);
            // Entering the snapshot later makes the call current again, and leaving restores.
            let mut snapshot = snapshot;
            assert_eq!(snapshot.run(id), outer_id);
            assert_eq!(id(), None);
            assert_eq!(context::wrap(id)(), None, "a fresh snapshot has no call");
            assert_eq!(Context::new().call().map(|c| c.call_id), None);
        });
    }
}
