//! `TracingBridge`: keel calls as `tracing` spans (feature `tracing`).

use super::event::{Event, EventKind};
use super::sink::Sink;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A [`Sink`] that turns each traced call into a `tracing` span, so existing `tracing`
/// subscribers (fmt, OpenTelemetry, ...) see keel's calls.
///
/// Every call opens a span named `call` with target `keel` and a `function` field holding the
/// qualified name (plus `args` when arguments are recorded); the span is entered at the call's
/// entry, so spans nest as calls do, and closed at its exit after an `exit` event carrying
/// `elapsed_ns` and `outcome`.
///
/// ```
/// keel_runtime::trace::add_sink(keel_runtime::trace::TracingBridge::new());
/// ```
#[derive(Debug, Default)]
pub struct TracingBridge {
    open: Mutex<HashMap<u64, tracing::Span>>,
}

impl TracingBridge {
    /// A bridge to the current `tracing` dispatcher.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Sink for TracingBridge {
    fn event(&self, event: &Event) {
        match event.kind() {
            EventKind::Enter => {
                let span = tracing::info_span!(
                    target: "keel",
                    "call",
                    function = event.name(),
                    args = tracing::field::Empty
                );
                if !event.fields().is_empty() {
                    let args: Vec<String> = event
                        .fields()
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect();
                    span.record("args", args.join(", "));
                }
                span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
                self.open
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(event.call_id(), span);
            }
            EventKind::Exit { elapsed, outcome } => {
                let span = self
                    .open
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&event.call_id());
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
}
