//! keel_foreign_shim: what a dependency rewritten by `cargo keel` calls. `cargo keel` compiles
//! this file once per build directory and links it into each instrumented crate with
//! `--extern`, so the dependency itself gains no `unsafe` and no dependency on keel. Every call
//! forwards to the stable extern symbols keel-runtime defines (`runtime/src/trace/foreign.rs`):
//! one runtime, one span tree, whichever crate the call came from.
#![no_std]
#![allow(missing_docs)]

use core::ffi::c_void;
use core::future::Future;
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::AtomicPtr;
use core::task::{Context, Poll};

/// A function's static description (keel-runtime's `ForeignSite`, same layout).
#[repr(C)]
pub struct Site {
    name: *const u8,
    name_len: usize,
    module: *const u8,
    module_len: usize,
    file: *const u8,
    file_len: usize,
    line: u32,
    /// Filled by keel-runtime on the first call: its own call site for this function.
    resolved: AtomicPtr<c_void>,
}

// SAFETY: the pointers are those of `&'static str`s (immutable, shared freely); the one mutable
// field is atomic.
unsafe impl Sync for Site {}

impl Site {
    #[doc(hidden)]
    pub const fn new(name: &'static str, module: &'static str, file: &'static str, line: u32) -> Self {
        Self {
            name: name.as_ptr(),
            name_len: name.len(),
            module: module.as_ptr(),
            module_len: module.len(),
            file: file.as_ptr(),
            file_len: file.len(),
            line,
            resolved: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

const OUTCOME_OK: u32 = 0;
const OUTCOME_ERR: u32 = 1;

unsafe extern "C" {
    fn keel_foreign_enter(site: *const Site) -> *mut c_void;
    fn keel_foreign_exit(span: *mut c_void, outcome: u32, err_type: *const u8, err_type_len: usize);
    fn keel_foreign_abandon(span: *mut c_void);
    fn keel_foreign_resume(span: *mut c_void);
    fn keel_foreign_suspend(span: *mut c_void);
}

/// One call: null while tracing is off (the runtime owns what it points to).
pub struct Span(*mut c_void);

// SAFETY: the pointee is keel-runtime's `Span`, which is `Send` and `Sync`; this handle is its
// only owner.
unsafe impl Send for Span {}
// SAFETY: as above; `&Span` gives no access to the pointee.
unsafe impl Sync for Span {}

#[inline]
pub fn enter(site: &'static Site) -> Span {
    // SAFETY: `site` is a valid `'static` site built by `Site::new`.
    Span(unsafe { keel_foreign_enter(site) })
}

/// How a call ended, as the dependency's generated code saw it.
pub enum Outcome {
    Ok,
    /// `Err(_)`, by the error's type name (never its text).
    Err(&'static str),
}

impl Span {
    #[inline]
    pub fn exit(mut self, outcome: Outcome) {
        let span = core::mem::replace(&mut self.0, ptr::null_mut());
        if span.is_null() {
            return;
        }
        let (code, name) = match outcome {
            Outcome::Ok => (OUTCOME_OK, ""),
            Outcome::Err(name) => (OUTCOME_ERR, name),
        };
        // SAFETY: `span` came from `keel_foreign_enter` and is given back exactly once.
        unsafe { keel_foreign_exit(span, code, name.as_ptr(), name.len()) }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: not yet finished (exit nulls it); given back exactly once.
            unsafe { keel_foreign_abandon(self.0) }
        }
    }
}

/// Fixes the closure's return type so `?` infers as it did in the function.
#[inline(always)]
pub fn run<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// The async counterpart of [`run`].
#[inline(always)]
pub fn run_async<R, F: Future<Output = R>>(body: F) -> F {
    body
}

/// `(&OutcomeOf(&value)).keel_outcome()`: `Err` by type name for a `Result`, else `Ok`.
pub struct OutcomeOf<'a, T: ?Sized>(pub &'a T);

pub trait IsResult {
    fn keel_outcome(&self) -> Outcome;
}

impl<T, E> IsResult for OutcomeOf<'_, Result<T, E>> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Err(core::any::type_name::<E>()),
        }
    }
}

pub trait NotResult {
    fn keel_outcome(&self) -> Outcome;
}

impl<T: ?Sized> NotResult for &OutcomeOf<'_, T> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// An `async fn`'s body, its call current during each poll only.
pub struct Scoped<F> {
    // Declared first, dropped first: the body's own state drops while the call is current.
    future: F,
    span: Span,
    suspended: bool,
}

#[inline]
pub fn scope<F: Future>(span: Span, future: F) -> Scoped<F> {
    if !span.0.is_null() {
        // SAFETY: a live span from `keel_foreign_enter`.
        unsafe { keel_foreign_suspend(span.0) }
    }
    Scoped {
        future,
        span,
        suspended: true,
    }
}

struct Unwinding<'a>(&'a mut Span);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        // A panic in the poll: the call ends there, as panicked, while still current.
        drop(core::mem::replace(self.0, Span(ptr::null_mut())));
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = (Span, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is never moved out of the pinned `Scoped` (structural pinning);
        // `span` and `suspended` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if this.span.0.is_null() {
            return future.poll(cx).map(|value| (Span(ptr::null_mut()), value));
        }
        // SAFETY: a live span.
        unsafe { keel_foreign_resume(this.span.0) };
        this.suspended = false;
        let unwinding = Unwinding(&mut this.span);
        let poll = future.poll(cx);
        core::mem::forget(unwinding);
        match poll {
            Poll::Ready(value) => Poll::Ready((core::mem::replace(&mut this.span, Span(ptr::null_mut())), value)),
            Poll::Pending => {
                // SAFETY: a live span.
                unsafe { keel_foreign_suspend(this.span.0) };
                this.suspended = true;
                Poll::Pending
            }
        }
    }
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        // Dropped between polls: the call runs again for its cancellation; the span's drop
        // then reports it.
        if self.suspended && !self.span.0.is_null() {
            // SAFETY: a live span.
            unsafe { keel_foreign_resume(self.span.0) };
        }
    }
}
