//! The stable entry points of code that `cargo keel` instrumented in a dependency.
//!
//! An instrumented dependency does not depend on keel: its generated code calls a small shim
//! crate (`keel_foreign_shim`, compiled and linked by `cargo keel`) whose functions call the
//! `extern "C"` symbols below, unmangled and defined here once. They forward to the same trace
//! state as `#[keel::instrument]` (same switch, filter, sinks, `Stats`, and one span tree: a
//! dependency's call is the child of whatever call is current on the thread). A program that
//! links two copies of keel-runtime fails to link (two definitions of these symbols) rather than
//! splitting its trace state in two.
//!
//! The ABI. A running call lives in a [`Slot`] the shim reserves in the caller's frame (or in
//! an `async fn`'s future): 192 bytes, 8-aligned, that hold keel-runtime's [`Span`] in place (a
//! pointer to a boxed one if a future `Span` outgrew them), so a traced call allocates nothing
//! more than a `#[keel::instrument]` one. Before calling anything, the shim reads
//! `keel_foreign_state` inline: while it says tracing is off and nothing captures, an
//! instrumented dependency call costs two loads and a branch, as a `#[keel::instrument]` one.
//!
//! | symbol | does |
//! | --- | --- |
//! | `keel_foreign_state: &AtomicU64` | the trace state word; nothing to do while `word & MAY_TRACE_MASK == 0` |
//! | `keel_foreign_enter(site, slot) -> bool` | enters the function `site` ([`ForeignSite`]) describes; true: a span is in `slot` |
//! | `keel_foreign_exit(slot, outcome, err_type, len)` | finishes it: `outcome` 0 = `Ok`, 1 = `Err` (by the error's type name) |
//! | `keel_foreign_exit_ok(slot)` | finishes it with `Ok` (`keel_foreign_exit` with 0, one argument, no dispatch) |
//! | `keel_foreign_abandon(slot)` | drops it unfinished: panicked (unwinding) or cancelled (a future dropped) |
//! | `keel_foreign_resume(slot)` / `keel_foreign_suspend(slot)` | an `async fn`'s poll begins / ends |
//!
//! **The runtime `cargo keel` brings in.** A program that never mentions keel has no code of its
//! own to add sinks, so the keel-runtime that `cargo keel` links into it (built with
//! `KEEL_CARGO_BRINGS_RUNTIME` set, [`BROUGHT_BY_CARGO_KEEL`]) configures itself from the
//! environment at the first instrumented call ([`configure_from_env`]): the words `stats` and
//! `stderr` in `KEEL_TRACE` choose the outputs (`KEEL_TRACE=stats` prints the [`Stats`] table on
//! stderr at exit), the rest of `KEEL_TRACE` is the filter, and an OTLP endpoint in the standard
//! `OTEL_*` variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `..._TRACES_ENDPOINT`, or
//! `OTEL_TRACES_EXPORTER=otlp`) adds an [`OtlpSink`](super::otlp::OtlpSink) built from them. A
//! program that links keel chooses its sinks in code, as without `cargo keel`.
//!
//! **Filtering.** A dependency function's call site is made at its first call, with its
//! qualified name (`regex::Regex::new`), and filtered as any other. `cargo keel run`/`test`/`bench`
//! pass the selection to the program (`KEEL_CARGO_SELECTION`), so that a `KEEL_TRACE` directive
//! under a selected crate is not reported as matching no function before its first call. A
//! binary started directly cannot know the selection: such a directive is then reported once,
//! at start, and filters all the same.

use super::{CallSite, Filter, Outcome, Span, Stats};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

/// True in the keel-runtime that `cargo keel` builds and links into a program that never
/// mentions keel (it sets `KEEL_CARGO_BRINGS_RUNTIME` for that build): that runtime configures
/// its outputs from the environment ([`configure_from_env`]).
pub(crate) const BROUGHT_BY_CARGO_KEEL: bool = option_env!("KEEL_CARGO_BRINGS_RUNTIME").is_some();

/// The `KEEL_TRACE` words that choose an output rather than filter, in the runtime `cargo keel`
/// brings in.
const OUTPUT_WORDS: [&str; 2] = ["stats", "stderr"];

/// The variable `cargo keel run|test|bench` passes to the program: the selectors, comma-separated.
const SELECTION_VAR: &str = "KEEL_CARGO_SELECTION";

static CONFIGURED: Once = Once::new();

/// What the environment asks of the runtime `cargo keel` brings in.
#[derive(Debug, Default, PartialEq)]
struct EnvOutputs {
    /// Print the [`Stats`] table on stderr at exit.
    stats: bool,
    /// Keep the stderr lines (`enter ..`/`exit ..`).
    stderr: bool,
    /// Export to the `OTEL_*` endpoint.
    otlp: bool,
    /// `KEEL_TRACE` without the output words (`None`: no filter).
    filter: Option<String>,
}

impl EnvOutputs {
    /// Reads `KEEL_TRACE` and the `OTEL_*` variables through `lookup`.
    fn read(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut outputs = Self::default();
        let mut directives = Vec::new();
        for word in set("KEEL_TRACE").unwrap_or_default().split(',') {
            match word.trim() {
                "" => {}
                "stats" => outputs.stats = true,
                "stderr" => outputs.stderr = true,
                directive => directives.push(directive.to_owned()),
            }
        }
        let exporter = set("OTEL_TRACES_EXPORTER").unwrap_or_default();
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true");
        outputs.otlp = !disabled
            && exporter.trim() != "none"
            && (exporter.trim() == "otlp"
                || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some());
        // Directives with no output word and no OTLP: the stderr lines, as without cargo keel.
        if !outputs.stats && !outputs.otlp && !directives.is_empty() {
            outputs.stderr = true;
        }
        outputs.filter = (!directives.is_empty()).then(|| directives.join(","));
        outputs
    }

    fn any(&self) -> bool {
        self.stats || self.stderr || self.otlp
    }
}

/// Configures the runtime `cargo keel` brought in ([`BROUGHT_BY_CARGO_KEEL`]) from the
/// environment, once, before the first instrumented call is traced; does nothing in any other
/// keel-runtime. See the [module documentation](self).
pub(crate) fn configure_from_env() {
    if !BROUGHT_BY_CARGO_KEEL {
        return;
    }
    CONFIGURED.call_once(|| {
        let outputs = EnvOutputs::read(|name| std::env::var(name).ok());
        if !outputs.any() {
            return;
        }
        // `KEEL_TRACE` is read as a filter here first (its output words match no function, and
        // are not warned about); the filter without them replaces it.
        let _ = super::filter();
        super::set_filter(
            outputs
                .filter
                .as_deref()
                .map(|text| Filter::parse_lossy(text).0),
        );
        let mut added = false;
        if outputs.stderr {
            super::add_sink(super::Stderr::new());
            added = true;
        }
        if outputs.stats {
            let stats = Stats::new();
            super::add_sink(stats.clone());
            added = true;
            // The table at exit (main returned or `process::exit`): a finalizer left registered.
            core::mem::forget(crate::finalize::Finalizer::new(move || {
                eprintln!("{}", stats.report());
            }));
        }
        if outputs.otlp {
            added |= add_otlp_sink();
        }
        if added {
            super::enable();
        } else {
            super::disable();
        }
    });
}

/// Adds an OTLP sink configured by the `OTEL_*` variables; false (after a warning) when they
/// are invalid or the runtime lacks feature `otlp`.
#[cfg(feature = "otlp")]
fn add_otlp_sink() -> bool {
    match super::otlp::OtlpSink::builder().build() {
        Ok(sink) => {
            super::add_sink(sink);
            true
        }
        Err(error) => {
            eprintln!("keel::trace: cargo keel: no OTLP export: {error}");
            false
        }
    }
}

#[cfg(not(feature = "otlp"))]
fn add_otlp_sink() -> bool {
    eprintln!(
        "keel::trace: cargo keel: an OTEL_* endpoint is set, but this keel-runtime was built without feature `otlp`"
    );
    false
}

/// Whether a `KEEL_TRACE` directive may name a function `cargo keel` instrumented (a crate of
/// the selection the program was started with, or a path under one), or is an output word of
/// the runtime `cargo keel` brings in: either way, not a misspelling.
pub(crate) fn may_name(directive: &str) -> bool {
    if BROUGHT_BY_CARGO_KEEL && OUTPUT_WORDS.contains(&directive) {
        return true;
    }
    std::env::var(SELECTION_VAR).is_ok_and(|selection| selection_may_name(&selection, directive))
}

/// Whether `directive` (a path prefix) and one of `selection`'s selectors (`krate`,
/// `krate::path::*`, `krate::Type::method`) can name a common function.
fn selection_may_name(selection: &str, directive: &str) -> bool {
    let under = |long: &str, short: &str| {
        long == short
            || long
                .strip_prefix(short)
                .is_some_and(|r| r.starts_with("::"))
    };
    selection.split(',').any(|selector| {
        let selector = selector.trim().trim_end_matches("::*");
        // Crate names are written with `-` or `_`; paths use `_`.
        let selector = selector.replace('-', "_");
        !selector.is_empty() && (under(directive, &selector) || under(&selector, directive))
    })
}

/// A dependency function's static description, as the shim lays it out (`#[repr(C)]`): its
/// qualified name, module path and file (UTF-8, `'static`), line, and a slot where the first
/// call stores the [`CallSite`] made for it.
#[repr(C)]
pub struct ForeignSite {
    name: *const u8,
    name_len: usize,
    module: *const u8,
    module_len: usize,
    file: *const u8,
    file_len: usize,
    line: u32,
    resolved: AtomicPtr<CallSite>,
}

/// # Safety
/// `ptr..ptr + len` is a `'static` UTF-8 string.
unsafe fn static_str(ptr: *const u8, len: usize) -> &'static str {
    // SAFETY: the caller's contract: the shim builds these from `&'static str`s.
    unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(ptr, len)) }
}

/// The [`CallSite`] of `site`, made (and leaked, once per site; a racing second maker's copy is
/// leaked too, and unused) on first use.
///
/// # Safety
/// `site` is a `'static` [`ForeignSite`] whose strings are `'static` UTF-8.
#[inline(always)]
unsafe fn call_site(site: &'static ForeignSite) -> &'static CallSite {
    let known = site.resolved.load(Ordering::Acquire);
    if !known.is_null() {
        // SAFETY: only ever set by `make_call_site`, to a leaked `'static` CallSite.
        return unsafe { &*known };
    }
    // SAFETY: the caller's contract.
    unsafe { make_call_site(site) }
}

/// [`call_site`] on a site's first call (out of line: every later call only loads the pointer).
///
/// # Safety
/// As for [`call_site`].
#[cold]
#[inline(never)]
unsafe fn make_call_site(site: &'static ForeignSite) -> &'static CallSite {
    // A site's first call: the runtime `cargo keel` brought in reads its outputs before the
    // call is traced (a `Once`; nothing in any other runtime).
    configure_from_env();
    // SAFETY: the caller's contract.
    let made = unsafe {
        CallSite::new(
            static_str(site.name, site.name_len),
            static_str(site.module, site.module_len),
            static_str(site.file, site.file_len),
            site.line,
        )
    };
    let made: &'static CallSite = Box::leak(Box::new(made));
    match site.resolved.compare_exchange(
        core::ptr::null_mut(),
        core::ptr::from_ref(made).cast_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => made,
        // SAFETY: another thread stored its leaked `'static` CallSite first.
        Err(theirs) => unsafe { &*theirs },
    }
}

/// Where the shim keeps a running call: 24 words, 8-aligned (`keel_foreign_shim::Slot`).
#[repr(C, align(8))]
pub struct Slot([core::mem::MaybeUninit<u64>; 24]);

/// Whether a [`Span`] fits a [`Slot`] (else the slot holds a pointer to a boxed one).
const INLINE: bool = core::mem::size_of::<Span>() <= core::mem::size_of::<Slot>()
    && core::mem::align_of::<Span>() <= core::mem::align_of::<Slot>();

/// What the shim tests in `keel_foreign_state` before calling in: the on bit and the running
/// captures (compiled into the shim, so pinned here).
pub const MAY_TRACE_MASK: u64 = 0xFFFF_FFFF_0000_0001;
const _: () = assert!(super::state::ON | super::state::CAPTURES == MAY_TRACE_MASK);

/// The trace state word (`state::STATE`), read inline by the shim: no call into keel-runtime
/// while `word & MAY_TRACE_MASK == 0`.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static keel_foreign_state: &AtomicU64 = &super::state::STATE;

/// Moves `span` into `slot`.
///
/// # Safety
/// `slot` is valid for writes and holds no live span.
unsafe fn put(slot: *mut Slot, span: Span) {
    if INLINE {
        // SAFETY: the caller's contract; a `Span` fits and is aligned (`INLINE`).
        unsafe { slot.cast::<Span>().write(span) }
    } else {
        // SAFETY: the caller's contract; a pointer fits any slot.
        unsafe {
            slot.cast::<*mut Span>()
                .write(Box::into_raw(Box::new(span)))
        }
    }
}

/// Drops the span in `slot` where it is (an unfinished one reports itself abandoned).
///
/// # Safety
/// `slot` holds a live span [`put`] there (or written by [`keel_foreign_enter`]), dropped once.
unsafe fn release(slot: *mut Slot) {
    if INLINE {
        // SAFETY: the caller's contract.
        unsafe { slot.cast::<Span>().drop_in_place() }
    } else {
        // SAFETY: the caller's contract: a pointer from `Box::into_raw`, dropped once.
        drop(unsafe { Box::from_raw(slot.cast::<*mut Span>().read()) });
    }
}

/// The span in `slot`.
///
/// # Safety
/// `slot` holds a live span [`put`] there, not borrowed elsewhere.
unsafe fn get<'a>(slot: *mut Slot) -> &'a mut Span {
    if INLINE {
        // SAFETY: the caller's contract.
        unsafe { &mut *slot.cast::<Span>() }
    } else {
        // SAFETY: the caller's contract: a live boxed span.
        unsafe { &mut **slot.cast::<*mut Span>() }
    }
}

/// Enters the function `site` describes; true when a span was put in `slot` (the call is
/// traced), false when the slot was left untouched.
///
/// # Safety
/// `site` points to a `'static` [`ForeignSite`] with `'static` UTF-8 strings; `slot` holds no
/// live span.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_enter(
    site: *const ForeignSite,
    slot: &mut core::mem::MaybeUninit<Slot>,
) -> bool {
    // SAFETY: the caller's contract.
    let site = unsafe { call_site(&*site) };
    let slot = slot.as_mut_ptr();
    if INLINE {
        // Built in the slot, field by field (`span::enter_into`): no span is returned by value
        // and copied in. Left untouched when the call is not traced.
        // SAFETY: the caller's contract; a `Span` fits and is aligned (`INLINE`).
        return unsafe { super::span::enter_into(site, slot.cast::<Span>()) };
    }
    let span = Span::enter(site);
    if !span.is_active() {
        return false;
    }
    // SAFETY: the caller's contract.
    unsafe { put(slot, span) };
    true
}

/// Finishes the span in `slot`: `outcome` 0 is `Ok`, 1 is `Err` named by `err_type` (the
/// error's type name).
///
/// # Safety
/// `slot` holds a span from [`keel_foreign_enter`], not yet given back; `err_type..+len` is
/// UTF-8.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_exit(
    slot: *mut Slot,
    outcome: u32,
    err_type: *const u8,
    err_type_len: usize,
) {
    let outcome = if outcome == 1 {
        // SAFETY: the caller's contract.
        let name = unsafe { core::slice::from_raw_parts(err_type, err_type_len) };
        Outcome::Err(String::from_utf8_lossy(name).into_owned())
    } else {
        Outcome::Ok
    };
    // Finished where it is (no copy out of the slot), then dropped there (a finished span's
    // drop does nothing).
    // SAFETY: the caller's contract: a live span, given back once.
    unsafe {
        get(slot).finish_in_place(outcome);
        release(slot);
    }
}

/// Finishes the span in `slot` with `Ok`: [`keel_foreign_exit`] with outcome 0, without the
/// outcome's dispatch (what the shim calls for every function that returns no `Result`, and
/// for an `Ok`).
///
/// # Safety
/// `slot` holds a span from [`keel_foreign_enter`], not yet given back; it is given back here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_exit_ok(slot: *mut Slot) {
    if INLINE {
        // Finished where it is and then left there: the shim never reads the slot again, and a
        // finished span owns nothing to drop.
        // SAFETY: the caller's contract: a live span in the slot (`INLINE`), given back once.
        unsafe { super::span::finish_ok_and_forget(slot.cast::<Span>()) };
    } else {
        // SAFETY: the caller's contract: a live span, given back once.
        unsafe {
            get(slot).finish_in_place(Outcome::Ok);
            release(slot);
        }
    }
}

/// Drops the span in `slot` unfinished: reported as panicked while unwinding, else cancelled.
///
/// # Safety
/// As for [`keel_foreign_exit`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_abandon(slot: *mut Slot) {
    // SAFETY: the caller's contract.
    unsafe { release(slot) };
}

/// Makes the call in `slot` current on this thread (a poll of its `async fn` begins).
///
/// # Safety
/// `slot` holds a span from [`keel_foreign_enter`], not yet given back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_resume(slot: *mut Slot) {
    // SAFETY: the caller's contract; the shim holds the only handle.
    unsafe { get(slot) }.resume();
}

/// Stops the call in `slot` being current (a poll of its `async fn` returned).
///
/// # Safety
/// As for [`keel_foreign_resume`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_suspend(slot: *mut Slot) {
    // SAFETY: the caller's contract; the shim holds the only handle.
    unsafe { get(slot) }.suspend();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace;

    const fn site(name: &'static str) -> ForeignSite {
        ForeignSite {
            name: name.as_ptr(),
            name_len: name.len(),
            module: "dep".as_ptr(),
            module_len: 3,
            file: "dep.rs".as_ptr(),
            file_len: 6,
            line: 7,
            resolved: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    struct Static(ForeignSite);
    // SAFETY: test-only: the pointers are of `'static` strs; `resolved` is atomic.
    unsafe impl Sync for Static {}
    static PARSE: Static = Static(site("dep::parse"));
    static OUTER: crate::trace::CallSite =
        crate::trace::CallSite::new("unit::foreign::outer", "unit", "f.rs", 1);

    #[test]
    fn a_foreign_call_is_a_child_of_the_current_call_with_its_error_type() {
        trace::enable();
        let (outer_id, events) = trace::capture(|| {
            let outer = Span::enter(&OUTER);
            let outer_id = trace::__private::current_call_id();
            let mut slot = core::mem::MaybeUninit::<Slot>::uninit();
            // SAFETY: a static site; each span given back once.
            unsafe {
                assert!(keel_foreign_enter(&PARSE.0, &mut slot));
                let name = "dep::Error";
                keel_foreign_exit(slot.as_mut_ptr(), 1, name.as_ptr(), name.len());
                assert!(keel_foreign_enter(&PARSE.0, &mut slot));
                keel_foreign_resume(slot.as_mut_ptr());
                keel_foreign_suspend(slot.as_mut_ptr());
                keel_foreign_abandon(slot.as_mut_ptr());
            }
            outer.finish(Outcome::Ok);
            outer_id
        });
        let names: Vec<_> = events.iter().map(|e| e.name()).collect();
        assert_eq!(names[1], "dep::parse");
        assert_eq!(
            events[2].outcome(),
            Some(&Outcome::Err("dep::Error".into()))
        );
        assert_eq!(events[4].outcome(), Some(&Outcome::Cancelled));
        assert!(outer_id.is_some());
        assert_eq!(trace::__private::parent_call_id(&events[1]), outer_id);
        // One CallSite per foreign site, made once.
        assert!(!PARSE.0.resolved.load(Ordering::Relaxed).is_null());
        // The shim's inline test: tracing is on.
        assert_ne!(
            keel_foreign_state.load(Ordering::Relaxed) & MAY_TRACE_MASK,
            0
        );
        // (Read at run time: this test reports the sizes when a `Span` grows past the slot.)
        assert!(
            std::hint::black_box(INLINE),
            "a Span ({} bytes) outgrew the shim's slot: every traced call now boxes it",
            core::mem::size_of::<Span>()
        );
    }

    static TIMED: Static = Static(site("dep::timed"));
    static TIMED_OUTER: crate::trace::CallSite =
        crate::trace::CallSite::new("unit::foreign::timed_outer", "unit", "f.rs", 2);

    /// With a `Stats` sink and no capture, a foreign call takes `span::enter_into`'s fast path
    /// (built in the slot) and `keel_foreign_exit_ok` (finished, left in the slot): the call
    /// is current while it runs and restores the user's call at exit, and the
    /// `Stats` count it as they count a `#[keel::instrument]` call. (No other unit test adds a
    /// sink, nor depends on there being none; this one's stays, as sinks do: clearing it would
    /// leave the replaced sink list unreachable, which Miri reports as a leak. Another test's
    /// capture running at the same time sends these calls by the generic path instead, which
    /// must give the same result.)
    #[test]
    fn a_foreign_call_with_stats_is_counted_and_nested_as_a_user_crate_call() {
        let stats = Stats::new();
        trace::add_sink(stats.clone());
        trace::enable();
        let id = || trace::__private::current_call_id();
        for round in 0..3u64 {
            let outer = Span::enter(&TIMED_OUTER);
            let outer_id = id();
            assert!(outer_id.is_some());
            let mut slot = core::mem::MaybeUninit::<Slot>::uninit();
            // SAFETY: a static site; each span given back once.
            unsafe {
                assert!(keel_foreign_enter(&TIMED.0, &mut slot));
                let inner_id = id();
                assert!(inner_id.is_some() && inner_id != outer_id);
                keel_foreign_exit_ok(slot.as_mut_ptr());
                assert_eq!(id(), outer_id, "the exit restored the caller");
                if round == 2 {
                    assert!(keel_foreign_enter(&TIMED.0, &mut slot));
                    let name = "dep::Error";
                    keel_foreign_exit(slot.as_mut_ptr(), 1, name.as_ptr(), name.len());
                }
            }
            outer.finish(Outcome::Ok);
            assert_eq!(id(), None);
        }
        let timed = stats.function("dep::timed").expect("counted");
        assert_eq!((timed.calls(), timed.errors()), (4, 1));
        assert_eq!(
            stats
                .function("unit::foreign::timed_outer")
                .unwrap()
                .calls(),
            3
        );
    }

    fn outputs(vars: &[(&str, &str)]) -> EnvOutputs {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvOutputs::read(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn keel_trace_output_words_and_otel_variables_choose_the_outputs() {
        assert_eq!(outputs(&[]), EnvOutputs::default());
        let stats = outputs(&[("KEEL_TRACE", "stats")]);
        assert!(stats.stats && !stats.stderr && !stats.otlp && stats.filter.is_none());
        let filtered = outputs(&[("KEEL_TRACE", " regex::Regex , stats,regex::Regex::new=off")]);
        assert!(filtered.stats && !filtered.stderr);
        assert_eq!(
            filtered.filter.as_deref(),
            Some("regex::Regex,regex::Regex::new=off")
        );
        // Directives alone: the stderr lines, as in any program.
        let lines = outputs(&[("KEEL_TRACE", "regex")]);
        assert!(lines.stderr && !lines.stats && !lines.otlp);
        let otlp = outputs(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
        assert!(otlp.otlp && !otlp.stderr && otlp.filter.is_none());
        assert!(outputs(&[("OTEL_TRACES_EXPORTER", "otlp")]).otlp);
        let traces = outputs(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://h:4318/v1/traces",
            ),
            ("KEEL_TRACE", "regex,stderr"),
        ]);
        assert!(traces.otlp && traces.stderr && !traces.stats);
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            let none = outputs(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318"), off]);
            assert!(!none.otlp, "{off:?}");
        }
    }

    #[test]
    fn directives_under_the_selection_may_name_a_dependency_function() {
        let selection = "regex,serde_json::de::*,keel-fixture-dep::Counter::new";
        for directive in [
            "regex",
            "regex::Regex::new",
            "serde_json",
            "serde_json::de::from_str",
            "keel_fixture_dep::Counter",
        ] {
            assert!(selection_may_name(selection, directive), "{directive}");
        }
        for directive in [
            "regexp",
            "serde_json::ser",
            "keel_fixture_dep::add",
            "other",
        ] {
            assert!(!selection_may_name(selection, directive), "{directive}");
        }
    }
}
