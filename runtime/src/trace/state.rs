//! The global switch and filter, and the per-call-site cache of the filter's verdict.
//!
//! `STATE` packs the on/off bit (bit 0) with a generation number (bits 1..). Generation 0 means
//! "not initialised from `KEEL_TRACE` yet"; its on bit is set so that the first instrumented call
//! takes the slow path and initialises. Every filter change bumps the generation, which
//! invalidates the verdicts cached in call sites.

use super::filter::Filter;
use super::sink;
use super::stderr::Stderr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, PoisonError, RwLock};

pub(crate) const ON: u32 = 1;
const GENERATION_STEP: u32 = 2;

/// On bit + generation. Read with one relaxed load on every instrumented call.
pub(crate) static STATE: AtomicU32 = AtomicU32::new(ON);

/// The active filter (`None`: everything passes).
static FILTER: RwLock<Option<Filter>> = RwLock::new(None);

/// Serialises writers of `STATE` and `FILTER`.
static CONFIG: Mutex<()> = Mutex::new(());

static INIT: Once = Once::new();

/// Reads `KEEL_TRACE` once and leaves `STATE` at generation ≥ 1.
pub(crate) fn ensure_initialized() {
    INIT.call_once(|| {
        let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
        let from_env = std::env::var("KEEL_TRACE")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let mut on = false;
        if let Some(text) = from_env {
            match Filter::parse(&text) {
                Ok(filter) => {
                    *FILTER.write().unwrap_or_else(PoisonError::into_inner) = Some(filter);
                    on = true;
                    if sink::is_empty() {
                        sink::add_sink(Stderr::new());
                    }
                }
                Err(error) => eprintln!("keel::trace: ignoring KEEL_TRACE: {error}"),
            }
        }
        if on {
            super::clock::clock();
        }
        // Generation 1, on bit from the environment.
        STATE.store(GENERATION_STEP | u32::from(on), Ordering::Release);
    });
}

/// Turns tracing on: instrumented functions emit events to the installed sinks and captures.
///
/// ```
/// keel_runtime::trace::enable();
/// assert!(keel_runtime::trace::is_enabled());
/// ```
pub fn enable() {
    ensure_initialized();
    super::clock::clock(); // calibrate now rather than in the first traced call
    let _config = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    STATE.fetch_or(ON, Ordering::AcqRel);
}

/// Turns tracing off: an instrumented call then costs one relaxed atomic load and a branch.
/// Calls already in progress still report their exit.
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

/// True while tracing is on.
///
/// ```
/// keel_runtime::trace::enable();
/// assert!(keel_runtime::trace::is_enabled());
/// ```
pub fn is_enabled() -> bool {
    ensure_initialized();
    STATE.load(Ordering::Acquire) & ON != 0
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
    STATE.fetch_add(GENERATION_STEP, Ordering::AcqRel);
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
