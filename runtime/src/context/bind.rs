//! [`bind`]: a reusable callback that runs every call in a copy of the caller's context.

use super::Context;
use std::cell::RefCell;
use std::sync::Arc;
use thread_local::ThreadLocal;

/// Wraps `f` into a function that runs *every* call of `f` in a fresh copy of the context
/// current now, on whichever thread calls it: [`wrap`](super::wrap) for callbacks called many
/// times, such as `rayon`'s `map` or an event handler. Python's `ctx.run(f, x)` for each `x`.
///
/// Each call starts from the captured values: what one call sets stays in that call, never
/// reaches the next call, and never reaches the caller of `bind`. Calls made inside have the
/// call that was current at `bind` as their parent.
///
/// The result is `Clone` (clones share `f`) and `Send + Sync` when `f` is, so it goes where `f`
/// went:
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static TENANT: ContextVar<&str> = ContextVar::new("tenant");
///
/// let _token = TENANT.set("acme");
/// let tag = context::bind(|x: u32| format!("{}:{x}", TENANT.get().unwrap_or("none")));
/// let tags: Vec<String> = std::thread::scope(|s| {
///     let handles: Vec<_> = (0..3)
///         .map(|x| {
///             let tag = tag.clone();
///             s.spawn(move || tag(x))
///         })
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(tags, ["acme:0", "acme:1", "acme:2"]);
/// ```
///
/// With rayon (`par_iter().map(context::bind(|x| ..))`), see [`rayon`](super::rayon) (feature
/// `rayon`).
///
/// # Cost
///
/// Each thread that calls the function keeps its own copy of the captured context (one
/// reference-count increment, the first time), so a call is a thread-local lookup and an enter
/// and leave of that copy, with no atomic operation shared between threads; a call that set
/// something makes that thread's next call take a new copy. A call made while another call of the
/// same function is running on the same thread (from inside `f`) takes a copy of its own.
pub fn bind<A, R, F>(f: F) -> impl Fn(A) -> R + Clone
where
    F: Fn(A) -> R,
{
    let bound = Arc::new(Bound {
        context: Context::current(),
        copies: ThreadLocal::new(),
        f,
    });
    move |argument| bound.call(argument)
}

/// What [`bind`] shares between its clones.
struct Bound<F> {
    /// The context captured at `bind`, never entered itself.
    context: Context,
    /// Each calling thread's copy of `context`, entered by its calls.
    copies: ThreadLocal<ThreadCopy>,
    f: F,
}

/// One thread's copy, alone on its cache lines: `ThreadLocal` keeps the threads' entries side by
/// side, and each call writes the borrow flag and the context, so unpadded neighbours would
/// bounce a shared line between cores on every call (measured: 2x slower on two threads).
#[repr(align(128))]
struct ThreadCopy(RefCell<Context>);

impl<F> Bound<F> {
    #[inline]
    fn call<A, R>(&self, argument: A) -> R
    where
        F: Fn(A) -> R,
    {
        let copy = self
            .copies
            .get_or(|| ThreadCopy(RefCell::new(self.context.clone())));
        match copy.0.try_borrow_mut() {
            Ok(mut copy) => {
                // A previous call on this thread set something (or panicked after setting):
                // start again from the captured values.
                if !copy.is_unchanged_copy_of(&self.context) {
                    *copy = self.context.clone();
                }
                copy.run(|| (self.f)(argument))
            }
            // `f` called the bound function again on this thread: a copy of its own.
            Err(_) => self.context.clone().run(|| (self.f)(argument)),
        }
    }
}
