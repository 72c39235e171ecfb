//! The current call: which traced call is running on this thread, as data only.
//!
//! A leaf module: its code uses nothing else of the crate (only its docs link out). It holds the
//! record of a running call ([`CurrentCall`]) and the thread-local slot with the one that runs
//! now, together with the layouts that record is made of: [`CallSite`] (what was called) and
//! [`TraceKey`] (the trace the call belongs to). `keel::trace` writes the slot and gives those
//! types their behaviour (their `impl` blocks live in `trace/call_site.rs` and `trace/id.rs`, and
//! `CallSite` is public as `keel::trace::CallSite`); `keel::context` carries the record as an
//! opaque value beside the context variables (ARCHITECTURE.md, "The current call is context").
//! So `trace` depends on `context` and on this module, `context` on this module and never on
//! `trace`, and this module on neither.
//!
//! [`Span::enter`](crate::trace::Span::enter) makes its call the current one and its exit puts
//! back the one it found; an instrumented `async fn` does the same around each poll. A
//! [`Context`](crate::context::Context) snapshot records the current call beside the variables,
//! and entering a context (`Context::run`, `Context::scope`, `context::wrap`, `context::spawn`,
//! and the tokio and rayon helpers built on them) makes that call current again, so a call
//! started on the receiving side has the caller of the hand-off as its parent. One propagation
//! mechanism for values and callers.
//!
//! The slot is its own thread-local rather than a field of the context's `RefCell`: it holds a
//! `Copy` value with no destructor, so reading or writing it is a plain access to thread-local
//! memory, with no lazy registration, no borrow flag and no failure at thread exit. Spans touch
//! it twice per call, on the `Stats` path too.
//!
//! Without the `trace` feature there are no calls: [`CurrentCall`] has no values and the slot is
//! always empty, at no cost.

// `pub` so that `CallSite` can be re-exported as `keel::trace::CallSite`; the module itself is
// private to the crate, and the other items keep their `pub(crate)`.
#[cfg(feature = "trace")]
pub use traced::*;
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
    use core::cell::Cell;
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU32;

    /// One traced function (or library operation): its qualified name and where it is defined.
    ///
    /// `#[keel::instrument]` puts one `static CallSite` in every function it instruments; library
    /// code declares its own to report timed operations through a
    /// [`Span`](crate::trace::Span). The site also caches whether the current
    /// [`Filter`](crate::trace::Filter) lets it through, so an enabled call consults the filter
    /// only after the filter changes.
    ///
    /// ```
    /// use keel_runtime::trace::CallSite;
    /// static SITE: CallSite = CallSite::new("myapp::db::load", "myapp::db", "src/db.rs", 42);
    /// assert_eq!(SITE.name(), "myapp::db::load");
    /// assert_eq!(SITE.module_path(), "myapp::db");
    /// assert_eq!((SITE.file(), SITE.line()), ("src/db.rs", 42));
    /// assert_eq!(SITE.to_string(), "myapp::db::load (src/db.rs:42)");
    /// ```
    // The layout only: the constructor, the accessors and the filter cache are in
    // `trace/call_site.rs`, the only code that reads these fields.
    pub struct CallSite {
        pub(crate) name: &'static str,
        pub(crate) module_path: &'static str,
        pub(crate) file: &'static str,
        pub(crate) line: u32,
        /// `module::Type::method`, for a method instrumented on its own (the macro cannot see the
        /// type's name; it is resolved from `Self` on the first traced call).
        pub(crate) typed_name: OnceLock<&'static str>,
        /// Dense index for per-site tables (assigned on first use, 0 = not yet).
        pub(crate) id: AtomicU32,
        /// Cached filter verdict: the generation it was computed for (even) | verdict bit. (Not a
        /// sink's [`Interest`](crate::trace::Interest): what the filter says of this site.)
        pub(crate) filter_verdict: AtomicU32,
    }

    /// The trace a call belongs to, as the current-call slot holds it: either a local root's call
    /// id (the trace id derived on demand) or a full trace id from a remote parent, plus the trace
    /// flags. Eight-byte aligned, so the slot stays small.
    // The layout only: what the words and flags mean is in `trace/id.rs`, the only code that
    // reads or builds them.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) struct TraceKey {
        pub(crate) words: [u64; 2],
        pub(crate) flags: u8,
    }

    /// The record of a running call that a child needs to name its parent. `Copy`, small, and
    /// crate-private: sinks see it through [`Event`](crate::trace::Event). (Its `Debug` is in
    /// `trace/call_site.rs`: it prints the site's name.)
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

#[cfg(test)]
mod tests {
    use super::{CurrentCall, current, replace};

    #[cfg(feature = "trace")]
    #[test]
    fn the_slot_holds_one_call_per_thread_and_replace_returns_the_previous_one() {
        use super::{CallSite, TraceKey, set};
        use core::sync::atomic::AtomicU32;
        use std::sync::OnceLock;

        static SITE: CallSite = CallSite {
            name: "unit::call::slot",
            module_path: "unit::call",
            file: "call.rs",
            line: 1,
            typed_name: OnceLock::new(),
            id: AtomicU32::new(0),
            filter_verdict: AtomicU32::new(0),
        };
        let call = |call_id| CurrentCall {
            call_id,
            site: &SITE,
            trace: TraceKey {
                words: [call_id, 0],
                flags: 0,
            },
        };
        let id = || current().map(|call| call.call_id);

        assert_eq!(id(), None);
        assert!(replace(Some(call(1))).is_none());
        assert_eq!(id(), Some(1));
        assert_eq!(replace(Some(call(2))).map(|c| c.key()), Some(call(1).key()));
        assert_eq!(std::thread::spawn(id).join().unwrap(), None, "per thread");
        set(None);
        assert_eq!(id(), None);
    }

    #[cfg(not(feature = "trace"))]
    #[test]
    fn without_trace_the_slot_is_always_empty() {
        assert_eq!(replace(None), None);
        assert_eq!(current(), None);
        assert_eq!(
            size_of::<Option<CurrentCall>>(),
            0,
            "the context carries nothing"
        );
    }
}
