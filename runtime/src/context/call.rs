//! The current call: which traced call is running on this thread, kept beside the context
//! variables (ARCHITECTURE.md, "The current call is context").
//!
//! [`Span::enter`](crate::trace::Span::enter) makes its call the current one and its exit puts
//! back the one it found; an instrumented `async fn` does the same around each poll. A
//! [`Context`](super::Context) snapshot records the current call beside the variables, and
//! entering a context ([`Context::run`](super::Context::run), [`Context::scope`](super::Context::scope),
//! [`wrap`](super::wrap), [`spawn`](super::spawn), and the tokio and rayon helpers built on them)
//! makes that call current again, so a call started on the receiving side has the caller of
//! the hand-off as its parent. One propagation mechanism for values and callers.
//!
//! The slot is its own thread-local rather than a field of the context's `RefCell`: it holds a
//! `Copy` value with no destructor, so reading or writing it is a plain access to thread-local
//! memory, with no lazy registration, no borrow flag and no failure at thread exit. Spans touch
//! it twice per call, on the `Stats` path too.

//!
//! Without the `trace` feature there are no calls: [`CurrentCall`] has no values and the slot is
//! always empty, at no cost.

#[cfg(feature = "trace")]
pub(crate) use traced::*;
#[cfg(not(feature = "trace"))]
pub(crate) use untraced::*;

#[cfg(not(feature = "trace"))]
mod untraced {
    /// No traced call can exist without the `trace` feature.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum CurrentCall {}

    impl CurrentCall {
        /// What identifies the call (see the traced version).
        #[inline]
        pub(crate) fn key(self) -> CurrentCall {
            self
        }
    }

    /// Always none.
    #[inline]
    pub(crate) fn current() -> Option<CurrentCall> {
        None
    }

    /// Always none: there is no slot.
    #[inline]
    pub(crate) fn replace(_: Option<CurrentCall>) -> Option<CurrentCall> {
        None
    }
}

#[cfg(feature = "trace")]
mod traced {
    use crate::trace::CallSite;
    use crate::trace::id::TraceKey;
    use core::cell::Cell;
    use core::fmt;

    /// The record of a running call that a child needs to name its parent. `Copy`, small, and
    /// crate-private: sinks see it through [`Event`](crate::trace::Event).
    #[derive(Clone, Copy)]
    pub(crate) struct CurrentCall {
        /// The call's [`Event::call_id`](crate::trace::Event::call_id).
        pub(crate) call_id: u64,
        /// What was called.
        pub(crate) site: &'static CallSite,
        /// The trace the call belongs to and its W3C flags (the sampling decision).
        pub(crate) trace: TraceKey,
    }

    impl CurrentCall {
        /// What identifies the call: its id and its trace (with the sampling decision).
        #[inline]
        pub(crate) fn key(self) -> (u64, TraceKey) {
            (self.call_id, self.trace)
        }
    }

    impl fmt::Debug for CurrentCall {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CurrentCall")
                .field("call_id", &self.call_id)
                .field("name", &self.site.name())
                .finish()
        }
    }

    thread_local! {
        static CURRENT: Cell<Option<CurrentCall>> = const { Cell::new(None) };
    }

    /// The call running on this thread now, if any.
    #[inline]
    pub(crate) fn current() -> Option<CurrentCall> {
        CURRENT.with(Cell::get)
    }

    /// Makes `call` the current one, returning the one it replaces.
    #[inline]
    pub(crate) fn replace(call: Option<CurrentCall>) -> Option<CurrentCall> {
        CURRENT.with(|current| current.replace(call))
    }

    /// Makes `call` the current one.
    #[inline]
    pub(crate) fn set(call: Option<CurrentCall>) {
        CURRENT.with(|current| current.set(call));
    }
}

#[cfg(all(test, feature = "trace"))]
mod tests {
    use super::current;
    use crate::context::{self, Context};
    use crate::trace::{self, CallSite, Outcome, Span};

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
    fn a_snapshot_carries_the_current_call_into_the_thread_it_is_handed_to() {
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
