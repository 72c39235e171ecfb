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
//! The ABI (all pointers from the shim; `span` is null while tracing is off and is then never
//! passed back):
//!
//! | symbol | does |
//! | --- | --- |
//! | `keel_foreign_enter(site) -> span` | enters the function described by `site` ([`ForeignSite`]) |
//! | `keel_foreign_exit(span, outcome, err_type, len)` | finishes it: `outcome` 0 = `Ok`, 1 = `Err` (by the error's type name) |
//! | `keel_foreign_abandon(span)` | drops it unfinished: panicked (unwinding) or cancelled (a future dropped) |
//! | `keel_foreign_resume(span)` / `keel_foreign_suspend(span)` | an `async fn`'s poll begins / ends |

use super::{CallSite, Outcome, Span};
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

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
unsafe fn call_site(site: &'static ForeignSite) -> &'static CallSite {
    let known = site.resolved.load(Ordering::Acquire);
    if !known.is_null() {
        // SAFETY: only ever set below, to a leaked `'static` CallSite.
        return unsafe { &*known };
    }
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

/// Enters the function `site` describes; returns the span (null when not traced).
///
/// # Safety
/// `site` points to a `'static` [`ForeignSite`] with `'static` UTF-8 strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_enter(site: *const ForeignSite) -> *mut c_void {
    // SAFETY: the caller's contract.
    let site = unsafe { call_site(&*site) };
    let span = Span::enter(site);
    if !span.is_active() {
        return core::ptr::null_mut();
    }
    Box::into_raw(Box::new(span)).cast()
}

/// Finishes `span`: `outcome` 0 is `Ok`, 1 is `Err` named by `err_type` (the error's type name).
///
/// # Safety
/// `span` came from [`keel_foreign_enter`], not null, not yet given back; `err_type..+len` is
/// UTF-8.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_exit(
    span: *mut c_void,
    outcome: u32,
    err_type: *const u8,
    err_type_len: usize,
) {
    // SAFETY: the caller's contract: a span boxed by `keel_foreign_enter`, given back once.
    let span = unsafe { Box::from_raw(span.cast::<Span>()) };
    let outcome = if outcome == 1 {
        // SAFETY: the caller's contract.
        let name = unsafe { core::slice::from_raw_parts(err_type, err_type_len) };
        Outcome::Err(String::from_utf8_lossy(name).into_owned())
    } else {
        Outcome::Ok
    };
    span.finish(outcome);
}

/// Drops `span` unfinished: reported as panicked while unwinding, else cancelled.
///
/// # Safety
/// As for [`keel_foreign_exit`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_abandon(span: *mut c_void) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(span.cast::<Span>()) });
}

/// Makes `span`'s call current on this thread (a poll of its `async fn` begins).
///
/// # Safety
/// `span` came from [`keel_foreign_enter`], not null, not yet given back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_resume(span: *mut c_void) {
    // SAFETY: the caller's contract; the shim holds the only handle.
    unsafe { &mut *span.cast::<Span>() }.resume();
}

/// Stops `span`'s call being current (a poll of its `async fn` returned).
///
/// # Safety
/// As for [`keel_foreign_resume`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_foreign_suspend(span: *mut c_void) {
    // SAFETY: the caller's contract; the shim holds the only handle.
    unsafe { &mut *span.cast::<Span>() }.suspend();
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
            // SAFETY: a static site; each span given back once.
            unsafe {
                let span = keel_foreign_enter(&PARSE.0);
                assert!(!span.is_null());
                let name = "dep::Error";
                keel_foreign_exit(span, 1, name.as_ptr(), name.len());
                let span = keel_foreign_enter(&PARSE.0);
                keel_foreign_abandon(span);
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
    }
}
