//! `Event`: one function entry or exit, as sinks and captures see it.

use super::call_site::CallSite;
use super::id::{SpanId, TraceId, TraceKey};
use crate::call::CurrentCall;
use crate::context::Context;
use core::fmt;
use core::time::Duration;

/// How a traced call ended.
///
/// ```
/// use keel_runtime::trace::Outcome;
/// assert_eq!(Outcome::Err("no such row".into()).to_string(), "err: no such row");
/// assert!(Outcome::Ok.is_ok() && !Outcome::Panicked.is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned normally (and not an `Err`).
    Ok,
    /// Returned `Err(e)`; the text is `e`'s `Display` form (its `Debug` form if it has no
    /// `Display`, or what [`Span::finish`](super::Span::finish) was given).
    Err(String),
    /// Unwound by a panic.
    Panicked,
    /// An `async fn`'s future (or a [`Span`](super::Span)) dropped before it completed.
    Cancelled,
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// The error text of an [`Outcome::Err`].
    ///
    /// ```
    /// use keel_runtime::trace::Outcome;
    /// assert_eq!(Outcome::Err("boom".into()).error(), Some("boom"));
    /// assert_eq!(Outcome::Ok.error(), None);
    /// ```
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Err(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Err(text) => write!(f, "err: {text}"),
            Self::Panicked => f.write_str("panicked"),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Whether an [`Event`] is an entry or an exit (with its duration and outcome).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The function was entered (an `async fn`: its future was first polled).
    Enter,
    /// The function returned, failed, panicked or was cancelled.
    Exit {
        /// Time from entry to exit (for an `async fn`, including time spent suspended).
        elapsed: Duration,
        /// How it ended.
        outcome: Outcome,
    },
}

/// One entry into or exit from a traced function.
///
/// (Not [`audit::Event`](crate::audit::Event), an audited operation that hooks may refuse;
/// write them module-qualified, `trace::Event` and `audit::Event`, where both are in use.)
///
/// Events reach sinks by reference and captures by value. The entry carries the arguments named
/// with `#[keel::instrument(args(..))]` as fields, the exit the return value recorded with `ret`
/// (field `"return"`). Both events of one call share a [`call_id`](Event::call_id).
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Span};
/// static SITE: CallSite = CallSite::new("doc::event::demo", "doc::event", "demo.rs", 1);
/// trace::enable();
/// let (_, events) = trace::capture(|| Span::enter(&SITE).finish(trace::Outcome::Ok));
/// let (enter, exit) = (&events[0], &events[1]);
/// assert!(enter.is_enter() && exit.is_exit());
/// assert_eq!(enter.name(), "doc::event::demo");
/// assert_eq!(enter.call_id(), exit.call_id());
/// assert!(enter.elapsed().is_none() && exit.elapsed().is_some());
/// assert_eq!(enter.to_string(), "enter doc::event::demo");
/// assert!(exit.to_string().starts_with("exit  doc::event::demo "));
/// ```
#[derive(Clone, Debug)]
pub struct Event {
    kind: EventKind,
    call_site: &'static CallSite,
    call_id: u64,
    /// The trace the call belongs to and its flags.
    trace: TraceKey,
    /// The call that was current when this one started (on its thread, or where the context
    /// it runs in was taken).
    parent: Option<CurrentCall>,
    fields: Vec<(&'static str, String)>,
    context: Option<Context>,
    /// Raw clock reading at the call's exit (0 when not known: entries, and exits built
    /// without one), so that a sink needing the end time does not read the clock again.
    end_raw: u64,
}

impl Event {
    /// The only constructor: every event is built here, on the thread that emits it.
    pub(crate) fn new(
        kind: EventKind,
        call_site: &'static CallSite,
        call_id: u64,
        trace: TraceKey,
        parent: Option<CurrentCall>,
        fields: Vec<(&'static str, String)>,
    ) -> Self {
        Self {
            kind,
            call_site,
            call_id,
            trace,
            parent,
            fields,
            context: None,
            end_raw: 0,
        }
    }

    /// Records the raw clock reading taken at the call's exit.
    #[inline]
    pub(crate) fn with_end_raw(mut self, end_raw: u64) -> Self {
        self.end_raw = end_raw;
        self
    }

    /// The raw clock reading at the call's exit, if the exit recorded one.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    #[inline]
    pub(crate) fn end_raw(&self) -> Option<u64> {
        (self.end_raw != 0).then_some(self.end_raw)
    }

    /// Attaches the emitting thread's context snapshot (done by the dispatcher when a sink or a
    /// capture wants it).
    pub(crate) fn set_context(&mut self, context: Context) {
        self.context = Some(context);
    }

    /// The function's qualified name, `crate::module::Type::method`.
    pub fn name(&self) -> &'static str {
        self.call_site.name()
    }

    /// The function's static description.
    pub fn call_site(&self) -> &'static CallSite {
        self.call_site
    }

    /// Entry or exit.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// True for an entry.
    pub fn is_enter(&self) -> bool {
        matches!(self.kind, EventKind::Enter)
    }

    /// True for an exit.
    pub fn is_exit(&self) -> bool {
        matches!(self.kind, EventKind::Exit { .. })
    }

    /// How long the call took (exits only).
    pub fn elapsed(&self) -> Option<Duration> {
        match &self.kind {
            EventKind::Exit { elapsed, .. } => Some(*elapsed),
            EventKind::Enter => None,
        }
    }

    /// How the call ended (exits only).
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.kind {
            EventKind::Exit { outcome, .. } => Some(outcome),
            EventKind::Enter => None,
        }
    }

    /// A number shared by the entry and exit of one call, unique in the process.
    pub fn call_id(&self) -> u64 {
        self.call_id
    }

    /// The parent call: the one current when this call started. Both events of a call carry
    /// it. (Crate-private; the public form is [`Event::parent_id`].)
    pub(crate) fn parent_call(&self) -> Option<CurrentCall> {
        self.parent
    }

    /// The trace this call belongs to: its parent's, or a new one when it has no parent.
    /// `Display` is 32 lowercase hex digits, as in a `traceparent` header.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static OUTER: CallSite = CallSite::new("doc::ids::outer", "doc::ids", "ids.rs", 1);
    /// static INNER: CallSite = CallSite::new("doc::ids::inner", "doc::ids", "ids.rs", 2);
    /// trace::enable();
    /// let (_, events) = trace::capture(|| {
    ///     let outer = Span::enter(&OUTER);
    ///     Span::enter(&INNER).finish(Outcome::Ok);
    ///     outer.finish(Outcome::Ok);
    /// });
    /// let (outer, inner) = (&events[0], &events[1]);
    /// assert_eq!(inner.trace_id(), outer.trace_id());
    /// assert_eq!(inner.parent_id(), Some(outer.span_id()));
    /// assert_eq!(outer.parent_id(), None, "a root");
    /// assert_eq!(outer.trace_id().to_string().len(), 32);
    /// assert_eq!(outer.span_id().to_string().len(), 16);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace.trace_id()
    }

    /// This call's span id, shared by its entry and exit; `Display` is 16 lowercase hex digits.
    pub fn span_id(&self) -> SpanId {
        SpanId::of_call(self.call_id)
    }

    /// The parent's span id: the call current when this one started (on this thread or task,
    /// where the context it runs in was taken, or the remote span of a
    /// [`TraceParent::run`](super::TraceParent::run)); `None` for a trace's root.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent.map(|parent| SpanId::of_call(parent.call_id))
    }

    /// The parent's name when the parent is a call of this process (`None` for a root or a
    /// remote parent).
    pub fn parent_name(&self) -> Option<&'static str> {
        self.parent
            .filter(|parent| !core::ptr::eq(parent.site, &super::traceparent::REMOTE))
            .map(|parent| parent.site.name())
    }

    /// The trace key as the current-call slot holds it (for the exporter).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn trace_key(&self) -> TraceKey {
        self.trace
    }

    /// Whether the call's trace is sampled (see [`set_sampler`](super::set_sampler)).
    pub fn is_sampled(&self) -> bool {
        self.trace.is_sampled()
    }

    /// The W3C trace flags of the call's trace (`0x01`: sampled).
    pub fn trace_flags(&self) -> u8 {
        self.trace.flags()
    }

    /// Recorded values: arguments (on entry, in `Debug` form) and `"return"` (on exit).
    pub fn fields(&self) -> &[(&'static str, String)] {
        &self.fields
    }

    /// The [`keel::context`](crate::context) in force on the thread that emitted the event
    /// (an O(1) snapshot), so a request id set in one thread is seen in the work it hands off.
    ///
    /// `None` when nobody asked for it: the snapshot is taken only while a capture is active on
    /// the thread or an installed sink's [`Interest`](super::Interest) wants it (the default;
    /// [`Stats`](super::Stats) says no, to stay cheap).
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
    /// static SITE: CallSite = CallSite::new("doc::ctx::handle", "doc::ctx", "ctx.rs", 1);
    /// trace::enable();
    /// let _token = REQUEST_ID.set(42);
    /// let (_, events) = trace::capture(|| Span::enter(&SITE).finish(Outcome::Ok));
    /// assert_eq!(events[0].context().and_then(|c| c.get(&REQUEST_ID)), Some(42));
    /// ```
    pub fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }

    /// The recorded value called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for Event {
    /// `enter name(arg=value, ..)` or `exit  name 1.2µs ok` (`-> value` when recorded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Enter => {
                write!(f, "enter {}", self.name())?;
                if !self.fields.is_empty() {
                    f.write_str("(")?;
                    for (i, (key, value)) in self.fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{key}={value}")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            EventKind::Exit { elapsed, outcome } => {
                write!(f, "exit  {} {elapsed:?} {outcome}", self.name())?;
                if let Some(value) = self.field("return") {
                    write!(f, " -> {value}")?;
                }
                Ok(())
            }
        }
    }
}
