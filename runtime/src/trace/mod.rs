//! Function-level tracing: what `#[keel::instrument]` reports to, and a small API for library code
//! to report its own timed operations.
//!
//! Python can rewrite a module at import time so that every function logs its entry. keel does
//! the rewriting at compile time (`#[keel::instrument]`): each instrumented function gets one
//! `static` [`CallSite`] and, on every call, emits an [`EventKind::Enter`] and an
//! [`EventKind::Exit`] event carrying the elapsed time and the [`Outcome`] (returned `Ok`,
//! returned `Err(text)`, panicked, or — for a future dropped before completion — cancelled).
//!
//! Where the events go:
//!
//! * a global switch, [`enable`] / [`disable`]: while disabled an instrumented call costs one
//!   relaxed atomic load and a branch;
//! * a [`Filter`] of function-name prefixes (`myapp::db,myapp::http=off`), read once from the
//!   `KEEL_TRACE` environment variable and settable with [`set_filter`];
//! * sinks installed with [`add_sink`]: [`Stderr`] prints `enter myapp::parse` lines like the
//!   Python original, [`Stats`] keeps per-function counters and latency percentiles (a tiny APM),
//!   and with the `tracing` feature [`TracingBridge`] turns calls
//!   into `tracing` spans;
//! * [`capture()`] collects every call made on the current thread while it runs, for tests,
//!   whatever the switch and the filter (which decide only what the sinks see).
//!
//! Tracing starts disabled. If the `KEEL_TRACE` environment variable is set to a non-empty value
//! when tracing is first consulted (the first instrumented call, or the first call to
//! [`enable`], [`disable`], [`is_enabled`], [`set_filter`] or [`filter()`]), tracing starts enabled
//! with that filter and prints to stderr until a sink is added (the first [`add_sink`] replaces
//! the stderr output, whenever it comes; a query such as [`is_enabled`] installs nothing). As with
//! `RUST_LOG`, an invalid directive is skipped with a warning on stderr and the valid ones apply
//! ([`Filter::parse_lossy`]); if none is valid, tracing stays off. A directive that matches no
//! `#[keel::instrument]` function of the program is warned about once, at that first use
//! ([`Filter::directives_matching_no_call_site`]). Calls in code always override the variable.
//!
//! ```
//! use keel_runtime::trace::{self, CallSite, Outcome, Span};
//!
//! // What `#[keel::instrument]` generates, written by hand (library code does this too).
//! static LOAD: CallSite = CallSite::new("myapp::db::load", module_path!(), file!(), line!());
//!
//! fn load(id: u64) -> Result<String, String> {
//!     let span = Span::enter(&LOAD);
//!     let result = if id == 0 { Err("no row 0".to_string()) } else { Ok(format!("row {id}")) };
//!     span.finish_result(&result);
//!     result
//! }
//!
//! let (_, events) = trace::capture(|| {
//!     let _ = load(7);
//!     let _ = load(0);
//! });
//! assert_eq!(events.len(), 4);
//! assert!(events[0].is_enter() && events[0].name() == "myapp::db::load");
//! assert_eq!(events[1].outcome(), Some(&Outcome::Ok));
//! assert_eq!(events[3].outcome(), Some(&Outcome::Err("no row 0".into())));
//! ```

pub(crate) mod call_site;
mod capture;
mod clock;
mod dispatch;
pub(crate) mod event;
mod filter;
mod foreign;
#[cfg(feature = "http")]
pub mod http;
pub(crate) mod id;
mod interest;
#[cfg(feature = "otlp")]
pub mod otlp;
#[doc(hidden)]
pub mod outcome;
mod sampler;
mod sink;
mod span;
mod span_future;
mod state;
mod stats;
mod stderr;
mod traceparent;
#[cfg(feature = "tracing")]
mod tracing_bridge;

pub use call_site::CallSite;
pub use capture::capture;
pub use event::{Event, EventKind, FieldValue, Outcome};
pub use filter::{Filter, FilterError};
pub use id::{SpanId, TraceId};
pub use interest::Interest;
pub use sampler::{is_parent_based, sampler, set_parent_based, set_sampler};
pub use sink::{Sink, add_sink, clear_sinks};
pub use span::Span;
pub use span_future::SpanFuture;
pub(crate) use state::may_trace;
pub use state::{disable, enable, filter, is_enabled, set_filter};
pub use stats::{FunctionStats, Report, Stats};
pub use stderr::Stderr;
pub use traceparent::{TraceParent, TraceParentError};
#[cfg(feature = "tracing")]
pub use tracing_bridge::TracingBridge;

/// What generated code calls (`::keel::__private::trace::…`). Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::Span;
    pub use super::call_site::Registration;
    pub use super::event::{Field, FieldDebug, FieldTyped, FieldValue};
    pub use super::outcome::{
        ErrDebug, ErrDisplay, ErrOpaque, NotResult, OutcomeOf, err_outcome_debug,
        err_outcome_display,
    };
    pub use super::span::enter_instrumented as enter;
    pub use super::{CallSite, Outcome};

    /// Fixes the return type of the closure that holds an instrumented function's body, so that
    /// `?` and `.into()` inside it infer exactly as they did in the function.
    #[inline(always)]
    pub fn run<R, F: FnOnce() -> R>(body: F) -> R {
        body()
    }

    /// The call id of the traced call current on this thread, if any (for keel's own tests).
    pub fn current_call_id() -> Option<u64> {
        crate::call::current().map(|call| call.call_id)
    }

    /// The call id of `event`'s parent call, if any (for keel's own tests).
    pub fn parent_call_id(event: &super::Event) -> Option<u64> {
        event.parent_call().map(|call| call.call_id)
    }

    /// The call id of the call current where `context` was taken (for keel's own tests).
    pub fn context_call_id(context: &crate::context::Context) -> Option<u64> {
        context.call().map(|call| call.call_id)
    }

    /// The `async fn` counterpart of [`run`]: names the output type of the body's future.
    #[inline(always)]
    pub fn run_async<R, F: core::future::Future<Output = R>>(body: F) -> F {
        body
    }
}
