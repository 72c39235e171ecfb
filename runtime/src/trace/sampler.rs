//! Head sampling: whether a new trace is recorded, decided once at its root from the trace id
//! and carried in the W3C `sampled` flag, so a trace is kept or dropped whole. A trace continued
//! from another process keeps its caller's decision (parent-based, the default) or gets the
//! local one ([`set_parent_based`]).

use super::id::{SAMPLED, TraceId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Traces whose id's low 64 bits are below this are sampled; `u64::MAX` keeps every one.
static THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether a remote parent's decision is kept (`true`) or the ratio decides there too.
static PARENT_BASED: AtomicBool = AtomicBool::new(true);

/// Keeps the fraction `ratio` of new traces (head sampling on the trace id, as OpenTelemetry's
/// `TraceIdRatioBased` does): `1.0` (the default) keeps all, `0.0` none. A value outside
/// `0.0..=1.0` is clamped into it; NaN counts as `0.0`.
///
/// The decision is made at a trace's root (a call with no parent, or a remote parent whose own
/// decision comes in its `traceparent` and is kept), travels with the current call into every
/// child, thread and task, and is sent on in [`TraceParent`](super::TraceParent)'s flags.
/// Unsampled calls still reach sinks that count every call ([`Stats`](super::Stats)); sinks that
/// export spans ([`Interest::unsampled`](super::Interest::unsampled) `false`) never see them,
/// and when only such sinks are installed an unsampled call emits no events at all.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
/// static SITE: CallSite = CallSite::new("doc::sampler::op", "doc::sampler", "s.rs", 1);
/// trace::enable();
/// trace::set_sampler(0.0);
/// let (sampled, events) = trace::capture(|| {
///     let span = Span::enter(&SITE);
///     let sampled = TraceParent::current().unwrap().is_sampled();
///     span.finish(Outcome::Ok);
///     sampled
/// });
/// assert!(!sampled && !events[0].is_sampled());
/// trace::set_sampler(1.0);
/// ```
pub fn set_sampler(ratio: f64) {
    let threshold = if ratio >= 1.0 {
        u64::MAX
    } else if ratio > 0.0 {
        // Exact for every ratio representable as a multiple of 2^-64 within f64's precision.
        (ratio * 18_446_744_073_709_551_616.0) as u64
    } else {
        0
    };
    THRESHOLD.store(threshold, Ordering::Relaxed);
}

/// The ratio set by [`set_sampler`].
///
/// ```
/// keel_runtime::trace::set_sampler(0.25);
/// assert_eq!(keel_runtime::trace::sampler(), 0.25);
/// keel_runtime::trace::set_sampler(1.0);
/// ```
pub fn sampler() -> f64 {
    match THRESHOLD.load(Ordering::Relaxed) {
        u64::MAX => 1.0,
        threshold => threshold as f64 / 18_446_744_073_709_551_616.0,
    }
}

/// Whether a trace continued from a remote parent ([`TraceParent::run`](super::TraceParent::run))
/// keeps the caller's sampling decision (`true`, the default: OpenTelemetry's `parentbased_*`
/// samplers) or is decided by the local ratio on its trace id as a new trace is (`false`:
/// OpenTelemetry's `always_on`, `always_off` and `traceidratio`, which ignore the parent).
/// Calls under a local parent always share its decision (the same trace id would get the same
/// one anyway).
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span, TraceParent};
/// static SITE: CallSite = CallSite::new("doc::sampler::serve", "doc::sampler", "s.rs", 1);
/// let unsampled: TraceParent =
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".parse().unwrap();
/// trace::enable();
/// // `always_on`: every call recorded, whatever the caller decided.
/// trace::set_parent_based(false);
/// let (_, events) = trace::capture(|| unsampled.clone().run(|| Span::enter(&SITE).finish(Outcome::Ok)));
/// assert!(events[0].is_sampled());
/// // `parentbased_always_on` (the default): the caller's decision is kept.
/// trace::set_parent_based(true);
/// let (_, events) = trace::capture(|| unsampled.run(|| Span::enter(&SITE).finish(Outcome::Ok)));
/// assert!(!events[0].is_sampled());
/// ```
pub fn set_parent_based(parent_based: bool) {
    PARENT_BASED.store(parent_based, Ordering::Relaxed);
}

/// Whether remote parents' sampling decisions are kept ([`set_parent_based`]).
///
/// ```
/// assert!(keel_runtime::trace::is_parent_based());
/// ```
pub fn is_parent_based() -> bool {
    PARENT_BASED.load(Ordering::Relaxed)
}

/// The flags a trace continued from a remote parent with `flags` runs under: the caller's when
/// the sampler is parent-based, else with `sampled` decided by the ratio on `trace_id`.
pub(crate) fn continued_flags(trace_id: TraceId, flags: u8) -> u8 {
    if is_parent_based() {
        flags
    } else if keeps(trace_id) {
        flags | SAMPLED
    } else {
        flags & !SAMPLED
    }
}

/// Whether every trace is sampled (the default): the root then needs no trace id to decide.
#[inline]
pub(crate) fn keeps_all() -> bool {
    THRESHOLD.load(Ordering::Relaxed) == u64::MAX
}

/// The decision for a new trace `trace_id`: on its low 64 bits (W3C's random part).
#[inline]
pub(crate) fn keeps(trace_id: TraceId) -> bool {
    let threshold = THRESHOLD.load(Ordering::Relaxed);
    threshold == u64::MAX || (trace_id.to_u128() as u64) < threshold
}
