//! rayon's `spawn`, `join` and `scope`, carrying the current context (feature `rayon`).
//!
//! rayon's worker threads know nothing of keel: a closure run there sees the worker's own (empty)
//! context, and calls made there have no parent. These are rayon's functions with the same
//! shapes, each closure running in a copy of the context current where it was handed over; for
//! parallel iterators, wrap the closure with [`bind`](super::bind).
//!
//! ```
//! use keel_runtime::context::{self, ContextVar};
//! use rayon::prelude::*;
//! static TENANT: ContextVar<&str> = ContextVar::new("tenant");
//!
//! let _token = TENANT.set("acme");
//! let (left, right) = context::rayon::join(|| TENANT.get(), || TENANT.get());
//! assert_eq!((left, right), (Some("acme"), Some("acme")));
//! let seen: Vec<Option<&str>> = (0..4).into_par_iter().map(context::bind(|_| TENANT.get())).collect();
//! assert!(seen.iter().all(|t| *t == Some("acme")));
//! ```

use super::{Context, wrap};

/// [`rayon::spawn`], with `f` running in a copy of the current context.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// let _token = USER.set("ada");
/// let (tx, rx) = std::sync::mpsc::channel();
/// context::rayon::spawn(move || tx.send(USER.get()).unwrap());
/// assert_eq!(rx.recv().unwrap(), Some("ada"));
/// ```
pub fn spawn<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    ::rayon::spawn(wrap(f));
}

/// [`rayon::join`], with each closure running in its own copy of the current context (whichever
/// thread runs it).
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static DEPTH: ContextVar<u32> = ContextVar::new("depth");
/// let _token = DEPTH.set(1);
/// let (a, b) = context::rayon::join(
///     || { let _t = DEPTH.set(2); DEPTH.get() },
///     || DEPTH.get(), // a copy of its own: the other closure's set is not seen
/// );
/// assert_eq!((a, b), (Some(2), Some(1)));
/// assert_eq!(DEPTH.get(), Some(1));
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    ::rayon::join(wrap(a), wrap(b))
}

/// [`rayon::scope`], with `op` and every task spawned in the scope running in a copy of the
/// context current where it was spawned.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// use std::sync::Mutex;
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let _token = USER.set("ada");
/// let seen = Mutex::new(Vec::new());
/// context::rayon::scope(|s| {
///     s.spawn(|s| {
///         seen.lock().unwrap().push(USER.get());
///         let _inner = USER.set("grace");
///         s.spawn(|_| seen.lock().unwrap().push(USER.get())); // spawned where "grace" is set
///     });
/// });
/// let mut seen = seen.into_inner().unwrap();
/// seen.sort();
/// assert_eq!(seen, [Some("ada"), Some("grace")]);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'_, 'scope>) -> R + Send,
    R: Send,
{
    let mut context = Context::current();
    ::rayon::scope(move |inner| context.run(|| op(&Scope { inner })))
}

/// A [`rayon::Scope`] whose [`spawn`](Scope::spawn) carries the current context; made by
/// [`scope`].
///
/// ```
/// keel_runtime::context::rayon::scope(|s| s.spawn(|_| ()));
/// ```
#[derive(Clone, Copy)]
pub struct Scope<'a, 'scope> {
    inner: &'a ::rayon::Scope<'scope>,
}

impl<'scope> Scope<'_, 'scope> {
    /// [`rayon::Scope::spawn`], with `body` running in a copy of the current context.
    ///
    /// ```
    /// use keel_runtime::context::{self, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let _token = V.set(7);
    /// let mut seen = None;
    /// context::rayon::scope(|s| s.spawn(|_| seen = V.get()));
    /// assert_eq!(seen, Some(7));
    /// ```
    pub fn spawn<BODY>(&self, body: BODY)
    where
        BODY: FnOnce(&Scope<'_, 'scope>) + Send + 'scope,
    {
        let mut context = Context::current();
        self.inner
            .spawn(move |inner| context.run(|| body(&Scope { inner })));
    }

    /// The rayon scope underneath, for what this wrapper does not offer (`spawn_broadcast`, ...);
    /// what is spawned through it does not carry the context.
    ///
    /// ```
    /// keel_runtime::context::rayon::scope(|s| s.as_rayon().spawn(|_| ()));
    /// ```
    pub fn as_rayon(&self) -> &::rayon::Scope<'scope> {
        self.inner
    }
}

impl core::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}
