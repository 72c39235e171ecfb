//! The global switch and filter, the count of running captures, and the per-call-site cache of
//! the filter's verdict.
//!
//! `STATE` is the one word every instrumented call loads. Its low 32 bits pack the on/off bit
//! (bit 0) with a generation number (bits 1..32); its high 32 bits count the [`capture`]s running
//! on any thread. An instrumented call takes the slow path only when the on bit is set or some
//! capture runs, so "switched off and nobody capturing" stays one relaxed load and a branch.
//!
//! Generation 0 means "not initialised from `KEEL_TRACE` yet"; its on bit is set so that the first
//! instrumented call takes the slow path and initialises. Every filter change bumps the
//! generation, which invalidates the verdicts cached in call sites.
//!
//! [`capture`]: fn@super::capture

use super::filter::Filter;
use super::sink;
use super::stderr::Stderr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError, RwLock};

pub(crate) const ON: u64 = 1;
const GENERATION_STEP: u64 = 2;
/// Bits 1..32: the filter's generation.
pub(crate) const GENERATION: u64 = 0xFFFF_FFFE;
/// One running capture, in the high half.
pub(crate) const CAPTURE_STEP: u64 = 1 << 32;
/// Bits 32..64: how many captures run, on all threads together.
pub(crate) const CAPTURES: u64 = !0xFFFF_FFFF;

/// On bit + generation + running captures. Read with one relaxed load on every instrumented call.
pub(crate) static STATE: AtomicU64 = AtomicU64::new(ON);

/// The active filter (`None`: everything passes).
static FILTER: RwLock<Option<Filter>> = RwLock::new(None);

/// Serialises writers of the switch, the generation and `FILTER` (captures count without it).
static CONFIG: Mutex<()> = Mutex::new(());

static INIT: Once = Once::new();

/// Tracing has been on at some point (from [`enable`] or `KEEL_TRACE`): what an empty
/// [`Report`](super::Report) uses to say why it is empty.
static EVER_ENABLED: AtomicBool = AtomicBool::new(false);

/// Reads `KEEL_TRACE` once and leaves `STATE` at generation ≥ 1.
///
/// A `KEEL_TRACE` with some valid directives turns tracing on with them, warns on stderr about
/// each invalid one and about each that names no instrumented function, and makes [`Stderr`] the
/// fallback sink (used while no sink is added). Reading the variable is the only thing this does
/// that a caller could notice, and only by the variable's value: whether a query such as
/// [`is_enabled`] ran first makes no difference.
pub(crate) fn ensure_initialized() {
    INIT.call_once(|| {
        let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
        let from_env = std::env::var("KEEL_TRACE")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let mut on = false;
        if let Some(text) = from_env {
            let (filter, errors) = Filter::parse_lossy(&text);
            for error in &errors {
                eprintln!("keel::trace: KEEL_TRACE: ignoring {error}");
            }
            for directive in filter.directives_matching_no_call_site() {
                eprintln!(
                    "keel::trace: KEEL_TRACE: directive `{directive}` matches no \
                     #[keel::instrument] function in this program"
                );
            }
            if errors.is_empty() || !filter.is_empty() {
                *FILTER.write().unwrap_or_else(PoisonError::into_inner) = Some(filter);
                on = true;
                sink::set_fallback(Stderr::new());
            } else {
                eprintln!("keel::trace: KEEL_TRACE has no valid directive; tracing stays off");
            }
        }
        if on {
            super::clock::clock();
            EVER_ENABLED.store(true, Ordering::Relaxed);
        }
        // Generation 1, on bit from the environment; the capture count is kept.
        let _ = STATE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
            Some((state & CAPTURES) | GENERATION_STEP | u64::from(on))
        });
    });
}

/// Turns tracing on: instrumented functions emit events to the installed sinks.
///
/// ```
/// keel_runtime::trace::enable();
/// assert!(keel_runtime::trace::is_enabled());
/// ```
pub fn enable() {
    ensure_initialized();
    super::clock::clock(); // calibrate now rather than in the first traced call
    let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    EVER_ENABLED.store(true, Ordering::Relaxed);
    STATE.fetch_or(ON, Ordering::AcqRel);
}

/// Turns tracing off: an instrumented call then costs one relaxed atomic load and a branch
/// (while no [`capture`](fn@super::capture) runs). Calls already in progress still report their
/// exit.
///
/// ```
/// keel_runtime::trace::disable();
/// assert!(!keel_runtime::trace::is_enabled());
/// keel_runtime::trace::enable();
/// ```
pub fn disable() {
    ensure_initialized();
    let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    STATE.fetch_and(!ON, Ordering::AcqRel);
}

/// True while tracing is on (from [`enable`], or from `KEEL_TRACE`). A query: it installs no
/// sink and changes nothing (it reads `KEEL_TRACE` if nothing in `keel::trace` has yet, which
/// any first use does). A running [`capture`](fn@super::capture) does not count.
///
/// ```
/// keel_runtime::trace::enable();
/// assert!(keel_runtime::trace::is_enabled());
/// ```
pub fn is_enabled() -> bool {
    ensure_initialized();
    STATE.load(Ordering::Acquire) & ON != 0
}

/// Whether tracing has been on at any time in this process (it may be off now). Not a query of
/// `KEEL_TRACE`: reads nothing.
pub(crate) fn was_ever_enabled() -> bool {
    EVER_ENABLED.load(Ordering::Relaxed)
}

/// True when a span entered now could report to someone: tracing is on or some thread captures.
/// One load; for library code that prepares a call site only when it may be used.
#[inline]
pub(crate) fn may_trace() -> bool {
    STATE.load(Ordering::Relaxed) & (ON | CAPTURES) != 0
}

/// Replaces the filter (`None` lets every function through). Overrides `KEEL_TRACE`.
///
/// ```
/// use keel_runtime::trace::{self, Filter};
/// trace::set_filter(Some(Filter::parse("myapp::db,myapp::db::migrate=off").unwrap()));
/// assert!(trace::filter().unwrap().allows("myapp::db::load"));
/// trace::set_filter(None);
/// ```
pub fn set_filter(filter: Option<Filter>) {
    ensure_initialized();
    let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    *FILTER.write().unwrap_or_else(PoisonError::into_inner) = filter;
    // The generation wraps inside its bits (never 0, "uninitialised"), leaving the rest alone.
    let _ = STATE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
        let mut generation = (state & GENERATION).wrapping_add(GENERATION_STEP) & GENERATION;
        if generation == 0 {
            generation = GENERATION_STEP;
        }
        Some((state & !GENERATION) | generation)
    });
}

/// The filter in force, if any (from `KEEL_TRACE` or [`set_filter`]).
///
/// ```
/// keel_runtime::trace::set_filter(None);
/// assert!(keel_runtime::trace::filter().is_none());
/// ```
pub fn filter() -> Option<Filter> {
    ensure_initialized();
    FILTER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Whether the filter in force lets `name` through.
pub(crate) fn filter_allows(name: &str) -> bool {
    FILTER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_none_or(|filter| filter.allows(name))
}

/// Counts a capture starting on this thread.
pub(crate) fn capture_started() {
    STATE.fetch_add(CAPTURE_STEP, Ordering::AcqRel);
}

/// Counts a capture ending on this thread.
pub(crate) fn capture_ended() {
    STATE.fetch_sub(CAPTURE_STEP, Ordering::AcqRel);
}
