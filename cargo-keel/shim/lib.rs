//! keel_foreign_shim: what a dependency rewritten by `cargo keel` calls. `cargo keel` compiles
//! this file once per build directory and links it into each instrumented crate with
//! `--extern`, so the dependency itself gains no `unsafe` and no dependency on keel. Every call
//! forwards to the stable extern symbols keel-runtime defines (`runtime/src/trace/foreign.rs`):
//! one runtime, one span tree, whichever crate the call came from. While tracing is off, a call
//! reads keel-runtime's state word inline and calls nothing.
#![no_std]
#![allow(missing_docs)]

use core::ffi::c_void;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
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

const OUTCOME_ERR: u32 = 1;
/// keel-runtime's `MAY_TRACE_MASK`: the bits of `keel_foreign_state` that send a call in.
const MAY_TRACE_MASK: u64 = 0xFFFF_FFFF_0000_0001;

/// Where keel-runtime keeps a running call (its `Slot`): 24 words, 8-aligned.
#[repr(C, align(8))]
pub struct Slot([MaybeUninit<u64>; 24]);

unsafe extern "C" {
    static keel_foreign_state: &'static AtomicU64;
    fn keel_foreign_enter(site: *const Site, slot: &mut MaybeUninit<Slot>) -> bool;
    fn keel_foreign_exit(slot: *mut Slot, outcome: u32, err_type: *const u8, err_type_len: usize);
    fn keel_foreign_exit_ok(slot: *mut Slot);
    fn keel_foreign_abandon(slot: *mut Slot);
    fn keel_foreign_resume(slot: *mut Slot);
    fn keel_foreign_suspend(slot: *mut Slot);
}

/// One call: `live` while keel-runtime's span is in `slot` (the call is traced).
pub struct Span {
    live: bool,
    slot: MaybeUninit<Slot>,
}

// SAFETY: the slot holds keel-runtime's `Span`, which is `Send` and `Sync`; this handle is its
// only owner.
unsafe impl Send for Span {}
// SAFETY: as above; `&Span` gives no access to the slot.
unsafe impl Sync for Span {}

impl Span {
    /// A call not (yet) traced. The generated code makes its span with this in its own frame and
    /// [`enter`](Self::enter)s it there: keel-runtime writes into the slot in place, and the
    /// span is never moved (a move would copy the slot) unless an `async fn` scopes it.
    #[inline(always)]
    pub const fn off() -> Self {
        Span {
            live: false,
            slot: MaybeUninit::uninit(),
        }
    }

    #[inline(always)]
    fn slot(&mut self) -> *mut Slot {
        self.slot.as_mut_ptr()
    }

    /// Enters the function `site` describes, if tracing is on or a capture runs (read inline:
    /// no call otherwise).
    #[inline(always)]
    pub fn enter(&mut self, site: &'static Site) {
        // SAFETY: a `'static` reference keel-runtime defines once and never changes.
        let state = unsafe { keel_foreign_state };
        if state.load(Ordering::Relaxed) & MAY_TRACE_MASK != 0 && !self.live {
            // SAFETY: `site` is a valid `'static` site built by `Site::new`; the slot is empty.
            self.live = unsafe { keel_foreign_enter(site, &mut self.slot) };
        }
    }
}

/// How a call ended, as the dependency's generated code saw it.
pub enum Outcome {
    Ok,
    /// `Err(_)`, by the error's type name (never its text).
    Err(&'static str),
}

impl Span {
    /// Finishes the call with `outcome` (nothing if it was not traced). An `Ok` (every
    /// function that returns no `Result`: known here at compile time) takes the one-argument
    /// `keel_foreign_exit_ok`.
    #[inline(always)]
    pub fn exit(&mut self, outcome: Outcome) {
        if !self.live {
            return;
        }
        match outcome {
            // SAFETY: a live span from `keel_foreign_enter`, given back exactly once.
            Outcome::Ok => unsafe { keel_foreign_exit_ok(self.slot()) },
            // SAFETY: as above.
            Outcome::Err(name) => unsafe {
                keel_foreign_exit(self.slot(), OUTCOME_ERR, name.as_ptr(), name.len())
            },
        }
        // Cleared after the call (which cannot unwind: `extern "C"`), so the compiler sees
        // `live` false at the drop that follows and leaves the drop's check out.
        self.live = false;
    }
}

impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        if self.live {
            self.live = false;
            // SAFETY: not yet finished (exit clears `live`); given back exactly once.
            unsafe { keel_foreign_abandon(self.slot()) }
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
pub fn scope<F: Future>(mut span: Span, future: F) -> Scoped<F> {
    if span.live {
        // SAFETY: a live span from `keel_foreign_enter`.
        unsafe { keel_foreign_suspend(span.slot()) }
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
        drop(core::mem::replace(self.0, Span::off()));
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = (Span, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is never moved out of the pinned `Scoped` (structural pinning);
        // `span` and `suspended` are not pinned (keel-runtime's span in the slot may move).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if !this.span.live {
            return future.poll(cx).map(|value| (Span::off(), value));
        }
        // SAFETY: a live span.
        unsafe { keel_foreign_resume(this.span.slot()) };
        this.suspended = false;
        let unwinding = Unwinding(&mut this.span);
        let poll = future.poll(cx);
        core::mem::forget(unwinding);
        match poll {
            Poll::Ready(value) => Poll::Ready((core::mem::replace(&mut this.span, Span::off()), value)),
            Poll::Pending => {
                // SAFETY: a live span.
                unsafe { keel_foreign_suspend(this.span.slot()) };
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
        if self.suspended && self.span.live {
            // SAFETY: a live span.
            unsafe { keel_foreign_resume(self.span.slot()) };
        }
    }
}
