//! `TracingBridge`: keel calls as `tracing` spans (feature `tracing`).

use super::call_site::CallSite;
use super::event::{Event, EventKind};
use super::interest::Interest;
use super::sink::Sink;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A [`Sink`] that turns each traced call into a `tracing` span, so existing `tracing`
/// subscribers (fmt, OpenTelemetry, ...) see keel's calls.
///
/// Every call opens a span named `call` with target `keel` and a `function` field holding the
/// qualified name (plus `args` when arguments are recorded), and closes it at its exit after an
/// `exit` event carrying `elapsed_ns` and `outcome`.
///
/// * **Parents follow keel's.** A call's span is the child of its keel parent's span: the call
///   current where it started, also when that is another thread or task that handed it a
///   context (`keel::context::spawn`, `wrap`, `bind`, `keel::context::tokio::spawn`, ...). A call
///   with no keel parent (or whose parent has no open span here) gets `tracing`'s contextual
///   parent, the span the thread is in.
/// * **Entered while the call runs, per poll.** The span is entered on the calling thread from
///   the call's entry to its exit; an `async fn`'s span is entered around each poll of its future
///   and exited when the poll returns, as `tracing`'s own `Instrumented` does, so no span is left
///   entered on a worker thread between polls, whichever threads the future moves between.
///
/// ```
/// keel_runtime::trace::add_sink(keel_runtime::trace::TracingBridge::new());
/// ```
#[derive(Debug, Default)]
pub struct TracingBridge {
    /// The span of every call that has entered and not yet exited, by call id.
    open: Mutex<HashMap<u64, tracing::Span>>,
}

impl TracingBridge {
    /// A bridge to the current `tracing` dispatcher.
    pub fn new() -> Self {
        Self::default()
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, tracing::Span>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter_call(&self, event: &Event) {
        let parent = event
            .parent_call()
            .and_then(|parent| self.open().get(&parent.call_id).cloned());
        let span = match &parent {
            Some(parent) => tracing::info_span!(
                target: "keel",
                parent: parent,
                "call",
                function = event.name(),
                args = tracing::field::Empty
            ),
            None => tracing::info_span!(
                target: "keel",
                "call",
                function = event.name(),
                args = tracing::field::Empty
            ),
        };
        if !event.fields().is_empty() {
            let args: Vec<String> = event
                .fields()
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            span.record("args", args.join(", "));
        }
        span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
        self.open().insert(event.call_id(), span);
    }
}

impl Sink for TracingBridge {
    fn event(&self, event: &Event) {
        match event.kind() {
            EventKind::Enter => self.enter_call(event),
            EventKind::Exit { elapsed, outcome } => {
                let span = self.open().remove(&event.call_id());
                if let Some(span) = span {
                    let elapsed_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
                    tracing::info!(
                        target: "keel",
                        parent: &span,
                        elapsed_ns,
                        outcome = %outcome,
                        "exit"
                    );
                    span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
                }
            }
        }
    }

    fn interest(&self) -> Interest {
        Interest::new().polls(true)
    }

    fn resume(&self, _site: &'static CallSite, call_id: u64) {
        if let Some(span) = self.open().get(&call_id) {
            span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
        }
    }

    fn suspend(&self, _site: &'static CallSite, call_id: u64) {
        if let Some(span) = self.open().get(&call_id) {
            span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}
