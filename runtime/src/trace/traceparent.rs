//! `TraceParent`: W3C Trace Context, the `traceparent` (and `tracestate`) headers that carry a
//! trace from one process to the next.

use super::call_site::CallSite;
use super::id::{KNOWN_FLAGS, RANDOM, SAMPLED, SpanId, TraceId, TraceKey};
use crate::call::{self, CurrentCall};
use crate::context::{Context, ContextVar, Scoped};
use core::fmt;
use core::str::FromStr;
use std::sync::Arc;

/// The call site a remote parent stands under in the current-call slot.
pub(crate) static REMOTE: CallSite = CallSite::new(
    "keel::trace::remote_parent",
    "keel::trace",
    file!(),
    line!(),
);

/// The `tracestate` of the remote trace being continued, carried with the context.
static TRACESTATE: ContextVar<Option<Arc<str>>> = ContextVar::new("keel::trace::tracestate");

/// A W3C Trace Context `traceparent`: a trace id, the id of the span that is the parent of what
/// comes next, and the trace flags (the sampling decision, and Level 2's `random` flag), plus the
/// `tracestate` that travels with it unchanged.
///
/// Flags: `sampled` (`01`) and Trace Context Level 2's `random` (`02`, the trace id's right
/// seven bytes are random) are kept as received and sent on (`03` in, `03` out); other bits are
/// zeroed. Traces keel starts have random ids and so carry `random`: a sampled root sends `03`.
///
/// * Outgoing: [`TraceParent::current`] names the running call; its `Display` is the
///   `traceparent` header value, [`tracestate`](TraceParent::tracestate) the `tracestate` one.
/// * Incoming: parse the header with [`str::parse`] (the W3C parsing rules; every mistake is a
///   [`TraceParentError`] that says what is wrong), then [`run`](TraceParent::run) or
///   [`scope`](TraceParent::scope) the handler in it: its calls join the remote trace as
///   children of the remote span.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
/// static HANDLE: CallSite = CallSite::new("server::handle", "server", "main.rs", 1);
///
/// // The server receives a request carrying these headers.
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let remote: TraceParent = header.parse().unwrap();
/// let remote = remote.with_tracestate("vendor=opaque");
///
/// trace::enable();
/// let (outgoing, events) = trace::capture(|| {
///     remote.clone().run(|| {
///         let span = Span::enter(&HANDLE);
///         // What the handler would send on to the next service.
///         let next = TraceParent::current().unwrap();
///         span.finish(Outcome::Ok);
///         next
///     })
/// });
/// assert_eq!(events[0].trace_id(), remote.trace_id());
/// assert_eq!(events[0].parent_id(), Some(remote.parent_id()));
/// assert_eq!(outgoing.trace_id(), remote.trace_id());
/// assert_eq!(outgoing.parent_id(), events[0].span_id());
/// assert_eq!(outgoing.to_string(), format!("00-{}-{}-01", remote.trace_id(), events[0].span_id()));
/// // A caller using W3C Level 2 (as OpenTelemetry's SDKs do) sets the random flag: kept.
/// let level2: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".parse().unwrap();
/// assert!(level2.is_sampled() && level2.is_random());
/// let next = level2.run(|| {
///     let span = Span::enter(&HANDLE);
///     let next = TraceParent::current().unwrap();
///     span.finish(Outcome::Ok);
///     next
/// });
/// assert!(next.to_string().ends_with("-03"));
/// assert_eq!(outgoing.tracestate(), Some("vendor=opaque"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: TraceId,
    parent_id: SpanId,
    flags: u8,
    tracestate: Option<Arc<str>>,
}

/// What is wrong with a `traceparent` header value.
///
/// ```
/// use keel_runtime::trace::{TraceParent, TraceParentError};
/// let error = "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     .parse::<TraceParent>()
///     .unwrap_err();
/// assert_eq!(error, TraceParentError::ForbiddenVersion);
/// assert_eq!(error.to_string(), "traceparent version ff is forbidden");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Fewer characters than the four fields need, or (version `00`) more.
    #[error(
        "traceparent must be 55 characters (version 00) or, for a later version, at least 55; got {len}"
    )]
    Length {
        /// The length found (after trimming surrounding spaces and tabs).
        len: usize,
    },
    /// A field that is not lowercase hex of its exact length.
    #[error("traceparent {field} must be {digits} lowercase hex digits, got {value:?}")]
    NotLowercaseHex {
        /// `version`, `trace-id`, `parent-id` or `trace-flags`.
        field: &'static str,
        /// How many digits the field has.
        digits: usize,
        /// What was there.
        value: String,
    },
    /// A field separator that is not `-`.
    #[error("traceparent must have '-' at byte {position}, got {found:?}")]
    Separator {
        /// Byte offset of the expected `-`.
        position: usize,
        /// What was there instead.
        found: String,
    },
    /// Version `ff`, which the specification forbids.
    #[error("traceparent version ff is forbidden")]
    ForbiddenVersion,
    /// An all-zero trace id.
    #[error("traceparent trace-id must not be all zeros")]
    ZeroTraceId,
    /// An all-zero parent id.
    #[error("traceparent parent-id must not be all zeros")]
    ZeroParentId,
}

impl TraceParent {
    /// A trace parent naming span `parent_id` of trace `trace_id`, sampled or not.
    ///
    /// ```
    /// use keel_runtime::trace::{SpanId, TraceId, TraceParent};
    /// let parent = TraceParent::new(
    ///     TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap(),
    ///     SpanId::from_u64(0x00f067aa0ba902b7).unwrap(),
    ///     true,
    /// );
    /// assert_eq!(parent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// ```
    pub fn new(trace_id: TraceId, parent_id: SpanId, sampled: bool) -> Self {
        Self {
            trace_id,
            parent_id,
            flags: if sampled { SAMPLED } else { 0 },
            tracestate: None,
        }
    }

    /// The call running on this thread or task now (or the remote parent of a
    /// [`run`](Self::run) with no call of its own yet), as the `traceparent` to send with an
    /// outgoing request; `None` outside any traced call. The `tracestate` received with the trace
    /// comes along.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
    /// static SITE: CallSite = CallSite::new("client::call", "client", "main.rs", 1);
    /// trace::enable();
    /// assert!(TraceParent::current().is_none());
    /// let (header, events) = trace::capture(|| {
    ///     let span = Span::enter(&SITE);
    ///     let header = TraceParent::current().unwrap().to_string();
    ///     span.finish(Outcome::Ok);
    ///     header
    /// });
    /// // Sampled (01), and random (02): keel's trace ids are.
    /// let id = format!("00-{}-{}-03", events[0].trace_id(), events[0].span_id());
    /// assert_eq!(header, id);
    /// ```
    pub fn current() -> Option<Self> {
        let call = call::current()?;
        Some(Self {
            trace_id: call.trace.trace_id(),
            parent_id: SpanId::of_call(call.call_id),
            flags: call.trace.flags(),
            tracestate: TRACESTATE.get().flatten(),
        })
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id of the parent (the caller's span; W3C's `parent-id`).
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The trace flags: W3C's `sampled` (`0x01`) and Level 2's `random` (`0x02`); other bits
    /// are not kept.
    ///
    /// ```
    /// let p: keel_runtime::trace::TraceParent =
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff".parse().unwrap();
    /// assert_eq!(p.flags(), 0x03);
    /// ```
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the trace id's right seven bytes are random (W3C Trace Context Level 2's
    /// `random` flag, `0x02`): set by the caller, or by keel for the traces it starts.
    ///
    /// ```
    /// let p: keel_runtime::trace::TraceParent =
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".parse().unwrap();
    /// assert!(p.is_random());
    /// assert_eq!(p.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
    /// ```
    pub fn is_random(&self) -> bool {
        self.flags & RANDOM != 0
    }

    /// Whether the caller sampled the trace: calls continuing it are recorded iff so.
    ///
    /// ```
    /// let p: keel_runtime::trace::TraceParent =
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap();
    /// assert!(!p.is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// The `tracestate` header value that came with the trace, unchanged.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The same parent carrying `tracestate` (the received header value, kept as it is; an
    /// empty value counts as none).
    ///
    /// ```
    /// let p: keel_runtime::trace::TraceParent =
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
    /// assert_eq!(p.with_tracestate("congo=t61rcWkgMzE").tracestate(), Some("congo=t61rcWkgMzE"));
    /// ```
    pub fn with_tracestate(mut self, tracestate: &str) -> Self {
        self.tracestate = (!tracestate.is_empty()).then(|| Arc::from(tracestate));
        self
    }

    /// The context that continues this trace: the current context, with the remote span as the
    /// current call and the `tracestate` beside the other context variables. The sampling
    /// decision is the caller's, unless the sampler is not parent-based
    /// ([`set_parent_based`](super::set_parent_based)`(false)`): then the local sampler
    /// decides on the trace id, as at a root.
    fn context(self) -> Context {
        let flags = super::sampler::continued_flags(self.trace_id, self.flags);
        let mut context = Context::current();
        let _previous = context.run(|| TRACESTATE.set(self.tracestate));
        context.set_call(Some(CurrentCall {
            call_id: self.parent_id.to_call_id(),
            site: &REMOTE,
            trace: TraceKey::remote(self.trace_id, flags),
        }));
        context
    }

    /// Runs `f` as the continuation of this remote trace: calls made inside (and in work they
    /// hand off with a context snapshot) are children of the remote span, in its trace, sampled
    /// as the caller decided (or, with a sampler that is not parent-based, as the local sampler
    /// decides on the trace id: [`set_parent_based`](super::set_parent_based)).
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
    /// static SITE: CallSite = CallSite::new("server::root", "server", "main.rs", 1);
    /// let remote: TraceParent =
    ///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap();
    /// trace::enable();
    /// let (_, events) = trace::capture(|| remote.clone().run(|| Span::enter(&SITE).finish(Outcome::Ok)));
    /// assert_eq!(events[0].trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    /// assert_eq!(events[0].parent_id().unwrap().to_string(), "b7ad6b7169203331");
    /// assert!(TraceParent::current().is_none(), "nothing stays current afterwards");
    /// ```
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        self.context().run(f)
    }

    /// The async form of [`run`](Self::run): each poll of `future` runs in the remote trace.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
    /// use std::future::Future;
    /// static SITE: CallSite = CallSite::new("server::task", "server", "main.rs", 1);
    /// let remote: TraceParent =
    ///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap();
    /// trace::enable();
    /// let (_, events) = trace::capture(|| {
    ///     let task = remote.scope(async {
    ///         std::future::ready(()).await;
    ///         Span::enter(&SITE).finish(Outcome::Ok);
    ///     });
    ///     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    ///     assert!(std::pin::pin!(task).poll(&mut cx).is_ready());
    /// });
    /// assert_eq!(events[0].parent_id().unwrap().to_string(), "b7ad6b7169203331");
    /// ```
    pub fn scope<F: core::future::Future>(self, future: F) -> Scoped<F> {
        self.context().scope(future)
    }
}

impl fmt::Display for TraceParent {
    /// The `traceparent` header value: `00-<trace-id>-<parent-id>-<flags>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceParent")
            .field("traceparent", &format_args!("{self}"))
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    /// Parses a `traceparent` header value by the W3C Trace Context rules: surrounding spaces
    /// and tabs are ignored; version `00` is exactly `00-<32 hex>-<16 hex>-<2 hex>`; a later
    /// version (not `ff`) may append `-<anything>`, which is ignored; every digit is lowercase
    /// hex; neither id may be all zeros.
    fn from_str(header: &str) -> Result<Self, Self::Err> {
        let value = header.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        let version_digits = bytes.get(..2).unwrap_or(bytes);
        let version = hex_field(version_digits, "version", 2)?;
        if version == 0xff {
            return Err(TraceParentError::ForbiddenVersion);
        }
        let len = bytes.len();
        if len < 55 || (version == 0 && len > 55) {
            return Err(TraceParentError::Length { len });
        }
        for position in [2, 35, 52] {
            separator(bytes, position)?;
        }
        if len > 55 {
            separator(bytes, 55)?;
        }
        let trace_id = hex_field(&bytes[3..35], "trace-id", 32)?;
        let parent_id = hex_field(&bytes[36..52], "parent-id", 16)?;
        let flags = hex_field(&bytes[53..55], "trace-flags", 2)?;
        Ok(Self {
            trace_id: TraceId::from_u128(trace_id).ok_or(TraceParentError::ZeroTraceId)?,
            parent_id: SpanId::from_u64(parent_id as u64).ok_or(TraceParentError::ZeroParentId)?,
            flags: flags as u8 & KNOWN_FLAGS,
            tracestate: None,
        })
    }
}

/// `bytes` read as exactly `digits` lowercase hex digits.
fn hex_field(bytes: &[u8], field: &'static str, digits: usize) -> Result<u128, TraceParentError> {
    let wrong = || TraceParentError::NotLowercaseHex {
        field,
        digits,
        value: String::from_utf8_lossy(bytes).into_owned(),
    };
    if bytes.len() != digits {
        return Err(wrong());
    }
    bytes.iter().try_fold(0u128, |value, &byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return Err(wrong()),
        };
        Ok(value << 4 | u128::from(digit))
    })
}

fn separator(bytes: &[u8], position: usize) -> Result<(), TraceParentError> {
    match bytes.get(position) {
        Some(b'-') => Ok(()),
        other => Err(TraceParentError::Separator {
            position,
            found: other.map_or_else(String::new, |&byte| {
                String::from_utf8_lossy(&[byte]).into_owned()
            }),
        }),
    }
}
