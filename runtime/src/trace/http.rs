//! W3C Trace Context over HTTP (feature `http`): the `traceparent` and `tracestate` headers
//! read from and written into the `http` crate's [`HeaderMap`], which hyper, axum, reqwest and
//! tonic share.
//!
//! A server [`extract`]s the caller's trace and runs its handler in it
//! ([`TraceParent::run`], or [`TraceParent::scope`] for a future); a client [`inject`]s the
//! current call into its request, so the next service continues the trace.
//!
//! ```
//! use http::HeaderMap;
//! use keel_runtime::trace::{self, CallSite, Outcome, Span, http as trace_http};
//! static HANDLE: CallSite = CallSite::new("server::handle", "server", "main.rs", 1);
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! incoming.insert("tracestate", "vendor=opaque".parse().unwrap());
//! let remote = trace_http::extract(&incoming).expect("a valid traceparent");
//!
//! trace::enable();
//! let (outgoing, _events) = trace::capture(|| {
//!     remote.run(|| {
//!         let span = Span::enter(&HANDLE);
//!         let mut outgoing = HeaderMap::new();
//!         trace_http::inject(&mut outgoing); // the request to the next service
//!         span.finish(Outcome::Ok);
//!         outgoing
//!     })
//! });
//! let traceparent = outgoing["traceparent"].to_str().unwrap();
//! assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert_eq!(outgoing["tracestate"], "vendor=opaque");
//! ```
//!
//! The trace flags travel as received: `sampled` and W3C Trace Context Level 2's `random`
//! (`03` from OpenTelemetry SDKs goes on as `03`).
//!
//! With feature `tower`, [`TraceLayer`] does the server side for every request of a tower
//! service (axum, tonic, hyper through `tower`): it extracts the caller's trace and runs the
//! request in a span of its own.

use super::{TraceParent, TraceParentError};
use ::http::HeaderMap;
use ::http::header::HeaderValue;

/// The W3C header naming the caller's span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header of vendor-specific trace data, passed on unchanged.
pub const TRACESTATE: &str = "tracestate";

/// Why the `traceparent` of a request could not be used.
///
/// ```
/// use http::HeaderMap;
/// use keel_runtime::trace::http::{ExtractError, try_extract};
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-zz".parse().unwrap());
/// assert!(matches!(try_extract(&headers), Err(ExtractError::Invalid(_))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// More than one `traceparent` header: the specification makes that invalid.
    #[error("a request must carry at most one traceparent header, got {count}")]
    Repeated {
        /// How many there were.
        count: usize,
    },
    /// A header value with bytes outside visible ASCII.
    #[error("the {header} header is not visible ASCII")]
    NotAscii {
        /// `traceparent` or `tracestate`.
        header: &'static str,
    },
    /// A `traceparent` that does not parse.
    #[error(transparent)]
    Invalid(#[from] TraceParentError),
}

/// The caller's trace from `headers`, with its `tracestate` (repeated `tracestate` headers
/// joined with `,`, as HTTP combines them); `Ok(None)` when there is no `traceparent`.
///
/// ```
/// use http::HeaderMap;
/// use keel_runtime::trace::http::try_extract;
/// let mut headers = HeaderMap::new();
/// assert_eq!(try_extract(&headers), Ok(None));
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap());
/// headers.append("tracestate", "a=1".parse().unwrap());
/// headers.append("tracestate", "b=2".parse().unwrap());
/// let parent = try_extract(&headers).unwrap().unwrap();
/// assert!(!parent.is_sampled());
/// assert_eq!(parent.tracestate(), Some("a=1,b=2"));
/// ```
pub fn try_extract(headers: &HeaderMap) -> Result<Option<TraceParent>, ExtractError> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let more = values.count();
    if more > 0 {
        return Err(ExtractError::Repeated { count: more + 1 });
    }
    let value = value.to_str().map_err(|_| ExtractError::NotAscii {
        header: TRACEPARENT,
    })?;
    let parent: TraceParent = value.parse()?;
    let mut state = String::new();
    for value in headers.get_all(TRACESTATE) {
        // A tracestate that cannot be read is dropped; the traceparent still holds.
        let Ok(value) = value.to_str() else {
            return Ok(Some(parent));
        };
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() {
            continue;
        }
        if !state.is_empty() {
            state.push(',');
        }
        state.push_str(value);
    }
    Ok(Some(parent.with_tracestate(&state)))
}

/// [`try_extract`], with an invalid `traceparent` treated as none (the specification's rule:
/// the request then starts a new trace).
///
/// ```
/// use http::HeaderMap;
/// use keel_runtime::trace::http::extract;
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "not a traceparent".parse().unwrap());
/// assert!(extract(&headers).is_none());
/// ```
pub fn extract(headers: &HeaderMap) -> Option<TraceParent> {
    try_extract(headers).ok().flatten()
}

/// Writes the current call's `traceparent` (and the `tracestate` it carries, if any) into
/// `headers`, replacing any there; `false` (and `headers` unchanged) when no traced call is
/// running.
///
/// ```
/// use http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// // No traced call runs here.
/// assert!(!keel_runtime::trace::http::inject(&mut headers));
/// assert!(headers.is_empty());
/// ```
pub fn inject(headers: &mut HeaderMap) -> bool {
    match TraceParent::current() {
        Some(parent) => {
            inject_parent(&parent, headers);
            true
        }
        None => false,
    }
}

/// Writes `parent` as `traceparent` (and its `tracestate`, if any and valid as a header
/// value) into `headers`, replacing any there.
///
/// ```
/// use http::HeaderMap;
/// use keel_runtime::trace::{SpanId, TraceId, TraceParent};
/// let parent = TraceParent::new(
///     TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap(),
///     SpanId::from_u64(0x00f067aa0ba902b7).unwrap(),
///     true,
/// )
/// .with_tracestate("k=v");
/// let mut headers = HeaderMap::new();
/// keel_runtime::trace::http::inject_parent(&parent, &mut headers);
/// assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(headers["tracestate"], "k=v");
/// ```
pub fn inject_parent(parent: &TraceParent, headers: &mut HeaderMap) {
    // Lowercase hex and dashes: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&parent.to_string()) {
        headers.insert(TRACEPARENT, value);
    }
    headers.remove(TRACESTATE);
    if let Some(value) = parent
        .tracestate()
        .and_then(|state| HeaderValue::from_str(state).ok())
    {
        headers.insert(TRACESTATE, value);
    }
}

#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "tower")]
pub use layer::{TraceLayer, TracedFuture, TracedService};

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn a_traceparent_round_trips_through_headers() {
        let parent = extract(&headers(&[(TRACEPARENT, HEADER), (TRACESTATE, " a=1 ")])).unwrap();
        assert_eq!(parent.to_string(), HEADER);
        assert_eq!(parent.tracestate(), Some("a=1"));
        let mut out = headers(&[(TRACESTATE, "stale=1")]);
        inject_parent(&parent, &mut out);
        assert_eq!(out[TRACEPARENT], HEADER);
        assert_eq!(out.get_all(TRACESTATE).iter().count(), 1);
        assert_eq!(out[TRACESTATE], "a=1");
        // No tracestate: a stale one is removed.
        let bare = extract(&headers(&[(TRACEPARENT, HEADER)])).unwrap();
        assert_eq!(bare.tracestate(), None);
        inject_parent(&bare, &mut out);
        assert!(out.get(TRACESTATE).is_none());
    }

    #[test]
    fn invalid_or_repeated_traceparents_are_refused() {
        let repeated = headers(&[(TRACEPARENT, HEADER), (TRACEPARENT, HEADER)]);
        assert_eq!(
            try_extract(&repeated),
            Err(ExtractError::Repeated { count: 2 })
        );
        assert!(extract(&repeated).is_none());
        let mut opaque = HeaderMap::new();
        opaque.insert(TRACEPARENT, HeaderValue::from_bytes(b"00-\xff").unwrap());
        assert_eq!(
            try_extract(&opaque),
            Err(ExtractError::NotAscii {
                header: TRACEPARENT
            })
        );
        let zero = headers(&[(
            TRACEPARENT,
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )]);
        assert_eq!(
            try_extract(&zero),
            Err(ExtractError::Invalid(TraceParentError::ZeroTraceId))
        );
        // A tracestate that cannot be read does not spoil the traceparent.
        let mut bad_state = headers(&[(TRACEPARENT, HEADER)]);
        bad_state.insert(TRACESTATE, HeaderValue::from_bytes(b"k=\xff").unwrap());
        let parent = extract(&bad_state).unwrap();
        assert_eq!(
            (parent.to_string().as_str(), parent.tracestate()),
            (HEADER, None)
        );
    }
}
