//! `capture`: collect the current thread's events (for tests).

use super::event::Event;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Captures in progress on any thread; lets the emitting path skip the thread-local when zero.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static BUFFER: RefCell<Option<Vec<Event>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns its result with every event emitted on this thread meanwhile, in order.
///
/// Events from other threads are not captured (an `async fn` polled on another thread reports
/// there). Capturing does not switch tracing on: call [`enable`](super::enable) first; the
/// [`Filter`](super::Filter) applies too. Sinks still see the events. Captures nest: an inner
/// capture takes the events emitted while it runs. If `f` panics, the capture ends and the panic
/// goes on.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span};
/// static SITE: CallSite = CallSite::new("doc::capture::op", "doc::capture", "c.rs", 1);
/// trace::enable();
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
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
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

    ACTIVE.fetch_add(1, Ordering::Relaxed);
    let outer = BUFFER.with(|buffer| buffer.replace(Some(Vec::new())));
    let mut restore = Restore { outer: Some(outer) };
    let result = f();
    let events = restore.finish();
    (result, events)
}

/// True when some thread is capturing.
#[inline]
pub(crate) fn any_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// True when this thread is capturing.
pub(crate) fn this_thread_active() -> bool {
    any_active()
        && BUFFER
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
