//! `capture`: collect the current thread's events (for tests).

use super::event::Event;
use super::state;
use std::cell::RefCell;

thread_local! {
    static BUFFER: RefCell<Option<Vec<Event>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns its result with every event emitted on this thread meanwhile, in order.
///
/// A capture records every traced call made on its thread while it runs, **whatever the global
/// switch and the filter**: it works without [`enable`](super::enable), after
/// [`disable`](super::disable), and with a `KEEL_TRACE` (or [`set_filter`](super::set_filter))
/// that excludes the function, so a test gives the same answer in every environment. The switch
/// and the filter still decide what the installed sinks see: a call that only a capture wants is
/// not shown to them.
///
/// Events from other threads are not captured (an `async fn` polled on another thread reports
/// there). Captures nest: an inner capture takes the events emitted while it runs. If `f` panics,
/// the capture ends and the panic goes on.
///
/// Cost: while any thread captures, an instrumented call on every thread looks at a
/// thread-local; with no capture running and tracing off, a call is still one relaxed load and a
/// branch (the count of running captures lives in the same word as the switch).
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span};
/// static SITE: CallSite = CallSite::new("doc::capture::op", "doc::capture", "c.rs", 1);
/// trace::disable(); // a capture does not depend on the switch
/// let (answer, events) = trace::capture(|| {
///     Span::enter(&SITE).finish(Outcome::Ok);
///     42
/// });
/// assert_eq!(answer, 42);
/// let names: Vec<_> = events.iter().map(|e| (e.name(), e.is_enter())).collect();
/// assert_eq!(names, [("doc::capture::op", true), ("doc::capture::op", false)]);
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    struct Restore {
        outer: Option<Option<Vec<Event>>>,
    }
    impl Restore {
        fn finish(&mut self) -> Vec<Event> {
            let outer = self.outer.take().unwrap_or_default();
            let mine = BUFFER.with(|buffer| buffer.replace(outer));
            state::capture_ended();
            mine.unwrap_or_default()
        }
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            if self.outer.is_some() {
                self.finish();
            }
        }
    }

    super::clock::clock(); // calibrate now rather than in the first captured call
    let outer = BUFFER.with(|buffer| buffer.replace(Some(Vec::new())));
    state::capture_started();
    let mut restore = Restore { outer: Some(outer) };
    let result = f();
    let events = restore.finish();
    (result, events)
}

/// True when this thread is capturing.
pub(crate) fn this_thread_active() -> bool {
    BUFFER
        .try_with(|buffer| buffer.borrow().is_some())
        .unwrap_or(false)
}

/// Appends `event` to this thread's capture, if one is running.
pub(crate) fn record(event: Event) {
    let _ = BUFFER.try_with(|buffer| {
        if let Some(events) = buffer.borrow_mut().as_mut() {
            events.push(event);
        }
    });
}
