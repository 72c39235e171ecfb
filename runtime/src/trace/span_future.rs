//! `SpanFuture`: a call entered for each poll of its future ([`Span::scope`]).

use super::span::Span;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// The future of a call that runs across polls; made by [`Span::scope`]. Each poll makes the
    /// call current on the polling thread (and tells the sinks that want polls), and the poll's
    /// end makes it stop being so, whichever thread polls next. Its output is the inner
    /// future's, with the span, still current, to be finished.
    ///
    /// ```
    /// use keel_runtime::trace::{CallSite, Outcome, Span};
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// static SITE: CallSite = CallSite::new("doc::span_future", module_path!(), file!(), line!());
    /// let future = std::pin::pin!(Span::enter(&SITE).scope(async { 2 + 2 }));
    /// let Poll::Ready((span, four)) = future.poll(&mut Context::from_waker(Waker::noop())) else {
    ///     unreachable!("an async block with no .await is ready at once");
    /// };
    /// span.finish(Outcome::Ok);
    /// assert_eq!(four, 4);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct SpanFuture<F> {
        // Declared first, dropped first: a future dropped before completion drops its own
        // state (child calls included) while this call is current.
        #[pin]
        future: F,
        span: Span,
        suspended: bool,
    }

    impl<F> PinnedDrop for SpanFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped between polls: the call runs again for its cancellation (sinks see a
            // resume before the exit), then the span's drop reports it and restores.
            if *this.suspended {
                this.span.resume();
            }
        }
    }
}

impl<F> SpanFuture<F> {
    pub(super) fn new(span: Span, future: F) -> Self {
        Self {
            future,
            span,
            suspended: true,
        }
    }
}

impl<F: Future> Future for SpanFuture<F> {
    type Output = (Span, F::Output);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !this.span.is_active() {
            return this.future.poll(cx).map(|value| (Span::inactive(), value));
        }
        this.span.resume();
        *this.suspended = false;
        let unwinding = Unwinding(&mut *this.span);
        let poll = this.future.poll(cx);
        core::mem::forget(unwinding);
        match poll {
            // The call stays current for its exit, made by whoever finishes the span.
            Poll::Ready(value) => {
                Poll::Ready((core::mem::replace(this.span, Span::inactive()), value))
            }
            Poll::Pending => {
                this.span.suspend();
                *this.suspended = true;
                Poll::Pending
            }
        }
    }
}

/// Armed during the inner poll: if it unwinds, the call ends there as panicked, while it is
/// still current, so nothing stays current on the thread.
struct Unwinding<'a>(&'a mut Span);

impl Drop for Unwinding<'_> {
    #[cold]
    fn drop(&mut self) {
        drop(core::mem::replace(self.0, Span::inactive()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call;
    use crate::trace::{self, CallSite, Outcome};
    use core::task::Waker;

    static CALL: CallSite = CallSite::new("unit::span_future::call", "unit", "sf.rs", 1);
    static CHILD: CallSite = CallSite::new("unit::span_future::child", "unit", "sf.rs", 2);

    fn id() -> Option<u64> {
        call::current().map(|c| c.call_id)
    }

    /// Pending once, then ready.
    #[derive(Default)]
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if core::mem::replace(&mut self.0, true) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn the_call_is_current_during_each_poll_only_and_on_the_thread_that_polls() {
        trace::enable();
        let mut cx = Context::from_waker(Waker::noop());
        let ((), events) = trace::capture(|| {
            let span = Span::enter(&CALL);
            let call_id = id().unwrap();
            let mut future = Box::pin(span.scope(async move {
                let first = id();
                YieldOnce::default().await;
                let second = id();
                Span::enter(&CHILD).finish(Outcome::Ok);
                (first, second)
            }));
            assert_eq!(id(), None, "scope suspends the call until the first poll");
            assert!(future.as_mut().poll(&mut cx).is_pending());
            assert_eq!(id(), None, "nothing stays current between polls");
            // The second poll on another thread: the call is current there, and not here.
            let (span, (first, second), after) = std::thread::scope(|s| {
                s.spawn(|| {
                    let mut cx = Context::from_waker(Waker::noop());
                    let Poll::Ready(output) = future.as_mut().poll(&mut cx) else {
                        panic!("ready on the second poll");
                    };
                    (output.0, output.1, id())
                })
                .join()
                .unwrap()
            });
            assert_eq!((first, second), (Some(call_id), Some(call_id)));
            assert_eq!(after, Some(call_id), "current until finished");
            span.finish(Outcome::Ok);
        });
        // The child ran on the other thread: this thread captured only the call's own events.
        assert_eq!(events.len(), 2);
        assert!(events[1].outcome() == Some(&Outcome::Ok));
        assert_eq!(id(), None);
    }

    #[test]
    fn a_future_dropped_between_polls_or_panicking_in_one_restores_and_reports() {
        trace::enable();
        let mut cx = Context::from_waker(Waker::noop());
        let ((), events) = trace::capture(|| {
            let mut future = Box::pin(Span::enter(&CALL).scope(YieldOnce::default()));
            assert!(future.as_mut().poll(&mut cx).is_pending());
            drop(future);
            assert_eq!(id(), None);
            let mut future = Box::pin(Span::enter(&CALL).scope(async {
                YieldOnce::default().await;
                panic!("boom");
            }));
            assert!(future.as_mut().poll(&mut cx).is_pending());
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = future.as_mut().poll(&mut cx);
            }));
            assert!(unwound.is_err());
            assert_eq!(id(), None, "the unwinding poll left nothing current");
            drop(future);
        });
        let outcomes: Vec<_> = events.iter().filter_map(|e| e.outcome().cloned()).collect();
        assert_eq!(outcomes, [Outcome::Cancelled, Outcome::Panicked]);
    }
}
