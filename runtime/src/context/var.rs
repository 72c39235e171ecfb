//! [`ContextVar`], the [`Token`] its `set` returns, and [`ContextError`].

use super::map::Value;
#[cfg(feature = "tokio")]
use super::task;
use super::{THREAD, next_context_id};
use core::fmt;
use core::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Source of variable ids. 0 means "no id yet", so ids start at 1.
static NEXT_VAR_ID: AtomicUsize = AtomicUsize::new(1);

/// A context variable: one value per [`Context`](super::Context), Python's
/// `contextvars.ContextVar`.
///
/// Declare it as a `static` (the constructor is `const`), then [`set`](Self::set),
/// [`get`](Self::get) and [`reset`](Self::reset) it from any thread or task. Each thread starts
/// in an empty context, and so does each tokio task spawned without keel (feature `tokio`; see
/// [Plain tokio tasks](super#plain-tokio-tasks)), so a value set on one thread or task is
/// invisible to others unless the context is carried over with [`wrap`](super::wrap),
/// [`spawn`](super::spawn), [`Context::run`](super::Context::run),
/// [`Context::scope`](super::Context::scope) or keel's tokio and rayon functions.
///
/// ```
/// use keel_runtime::context::ContextVar;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// assert_eq!(REQUEST_ID.get(), None);
/// let token = REQUEST_ID.set("req-42".to_string());
/// assert_eq!(REQUEST_ID.get().as_deref(), Some("req-42"));
/// REQUEST_ID.reset(token).unwrap();
/// assert_eq!(REQUEST_ID.get(), None);
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    /// Assigned on first `set`; 0 until then.
    id: AtomicUsize,
    default: Option<T>,
}

impl<T> ContextVar<T> {
    /// A variable with no default: [`get`](Self::get) returns `None` until it is set.
    ///
    /// ```
    /// static USER: keel_runtime::context::ContextVar<u64> =
    ///     keel_runtime::context::ContextVar::new("user");
    /// assert_eq!(USER.name(), "user");
    /// assert_eq!(USER.get(), None);
    /// ```
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            id: AtomicUsize::new(0),
            default: None,
        }
    }

    /// A variable whose [`get`](Self::get) returns `default` in every context where it is not
    /// set (Python's `ContextVar(name, default=...)`).
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// static LANG: ContextVar<&str> = ContextVar::with_default("lang", "en");
    /// assert_eq!(LANG.get(), Some("en"));
    /// let token = LANG.set("fr");
    /// assert_eq!(LANG.get(), Some("fr"));
    /// LANG.reset(token).unwrap();
    /// assert_eq!(LANG.get(), Some("en"));
    /// ```
    pub const fn with_default(name: &'static str, default: T) -> Self {
        Self {
            name,
            id: AtomicUsize::new(0),
            default: Some(default),
        }
    }

    /// The name given at construction (used in `Debug` output, errors and
    /// [`Context::names`](super::Context::names)).
    ///
    /// ```
    /// static V: keel_runtime::context::ContextVar<u8> = keel_runtime::context::ContextVar::new("v");
    /// assert_eq!(V.name(), "v");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The default value, if the variable was built with [`with_default`](Self::with_default).
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// static RETRIES: ContextVar<u32> = ContextVar::with_default("retries", 3);
    /// assert_eq!(RETRIES.default_value(), Some(&3));
    /// ```
    pub const fn default_value(&self) -> Option<&T> {
        self.default.as_ref()
    }

    /// This variable's id if it was ever set, else 0 (then no context holds a value for it).
    #[inline]
    pub(crate) fn id_if_assigned(&self) -> usize {
        self.id.load(Ordering::Relaxed)
    }

    /// This variable's id, assigning one on first use.
    #[inline]
    fn id(&self) -> usize {
        match self.id.load(Ordering::Relaxed) {
            0 => self.assign_id(),
            id => id,
        }
    }

    #[cold]
    fn assign_id(&self) -> usize {
        let fresh = NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed);
        assert!(fresh != 0, "keel::context: context variable ids exhausted");
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => winner,
        }
    }
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// Calls `f` with a reference to the value in the current context (or the default), without
    /// cloning it. The closure may itself use context variables freely.
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// static PATH: ContextVar<Vec<String>> = ContextVar::new("path");
    /// let _token = PATH.set(vec!["api".into(), "users".into()]);
    /// let depth = PATH.with(|path| path.map_or(0, Vec::len));
    /// assert_eq!(depth, 2);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let value = self.current_value();
        match value.as_deref().and_then(|v| v.downcast_ref::<T>()) {
            Some(v) => f(Some(v)),
            None => f(self.default.as_ref()),
        }
    }

    /// The current context's value as a shared pointer (the borrow is released before user code
    /// runs, so `with`'s closure may set variables or enter contexts).
    fn current_value(&self) -> Option<Value> {
        let id = self.id_if_assigned();
        if id == 0 {
            return None;
        }
        THREAD
            .try_with(|thread| {
                #[cfg(feature = "tokio")]
                if let Some(task) = thread.task() {
                    return task::value(task, id);
                }
                thread.current.borrow().vars.get(id).cloned()
            })
            .ok()
            .flatten()
    }

    /// Sets the value in the current context and returns a [`Token`] that
    /// [`reset`](Self::reset) uses to restore the previous value.
    ///
    /// How long the value lasts depends on where it is set. In a thread's context or one entered
    /// with [`Context::run`](super::Context::run) (and every hand-off of keel's), Python's rule:
    /// until another `set` or a `reset`, whatever happens to the token. In the own context of a
    /// tokio task spawned without keel (feature `tokio`), the token is a guard: the value lasts
    /// until the token is reset or dropped, and goes with the task at the latest (see
    /// [Plain tokio tasks](super#plain-tokio-tasks)); keep it in a variable (`let _token = ..`,
    /// not `let _ = ..`).
    ///
    /// Snapshots taken earlier ([`Context::current`](super::Context::current)) keep the old
    /// value: the context's storage is copied on write, and only if a snapshot shares it.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static STEP: ContextVar<u32> = ContextVar::new("step");
    /// let _first = STEP.set(1);
    /// let before = Context::current();
    /// let _second = STEP.set(2);
    /// assert_eq!(STEP.get(), Some(2));
    /// assert_eq!(before.get(&STEP), Some(1));
    /// ```
    ///
    /// # Panics
    ///
    /// If called while a thread-local destructor runs after this thread's context was already
    /// destroyed (as any `thread_local!` access would).
    pub fn set(&self, value: T) -> Token<T> {
        let id = self.id();
        THREAD.with(|thread| {
            #[cfg(feature = "tokio")]
            if let Some(task) = thread.task() {
                let (context, frame, old) = task::set(task, id, self.name, value);
                return Token {
                    var: id,
                    var_name: self.name,
                    context,
                    old,
                    task: Some(frame),
                    _value: PhantomData,
                };
            }
            let mut current = thread.current.borrow_mut();
            // The write may copy the vector; without the spare, it copies only if it is shared.
            thread.release_spare_of(&current.vars);
            if current.id == 0 {
                current.id = next_context_id();
            }
            let old = current.vars.insert_new(id, self.name, value);
            Token {
                var: id,
                var_name: self.name,
                context: current.id,
                old,
                #[cfg(feature = "tokio")]
                task: None,
                _value: PhantomData,
            }
        })
    }

    /// Restores the value the variable had before the [`set`](Self::set) that returned `token`
    /// (removing it if it had none). The token is consumed, so it cannot be used twice.
    ///
    /// # Errors
    ///
    /// [`ContextError::WrongVariable`] if `token` came from another variable;
    /// [`ContextError::WrongContext`] if it was made in another context (another thread or
    /// task, or inside/outside a [`Context::run`](super::Context::run)). The current context is
    /// left unchanged; a token made in a plain tokio task's context still ends its `set` there,
    /// as dropping it would.
    ///
    /// In a plain tokio task's context, where tokens may end in any order, a reset makes the
    /// variable show the latest `set` whose token is still alive (in last-in first-out order,
    /// which is Python's rule, that is the value before the `set`).
    ///
    /// ```
    /// use keel_runtime::context::{ContextError, ContextVar};
    /// static A: ContextVar<u8> = ContextVar::new("a");
    /// static B: ContextVar<u8> = ContextVar::new("b");
    /// let token = A.set(1);
    /// let err = B.reset(token).unwrap_err();
    /// assert!(matches!(err, ContextError::WrongVariable { .. }));
    /// assert_eq!(A.get(), Some(1), "a failed reset changes nothing");
    /// ```
    pub fn reset(&self, token: Token<T>) -> Result<(), ContextError> {
        if token.var != self.id() {
            return Err(ContextError::WrongVariable {
                var: self.name,
                token_var: token.var_name,
            });
        }
        let mut token = token;
        let context = token.context;
        let displaced = THREAD.with(|thread| {
            #[cfg(feature = "tokio")]
            match (thread.task(), token.task) {
                // A token of this task's own context: end its set.
                (Some(here), Some(frame)) if frame.task == here => {
                    token.task = None;
                    return Ok(Displaced::Task(task::end(frame)));
                }
                // Made in a task's context, or reset in one, but not both in the same: refused
                // (the token, dropped on return, still ends its set if it is a task's).
                (Some(_), _) | (None, Some(_)) => {
                    return Err(ContextError::WrongContext {
                        var: self.name,
                        token_context: context,
                        current_context: match thread.task() {
                            Some(here) => task::context_id(here),
                            None => thread.current.borrow().id,
                        },
                    });
                }
                (None, None) => {}
            }
            let mut current = thread.current.borrow_mut();
            if current.id != context {
                return Err(ContextError::WrongContext {
                    var: self.name,
                    token_context: context,
                    current_context: current.id,
                });
            }
            thread.release_spare_of(&current.vars);
            Ok(Displaced::Value(match token.old.take() {
                Some(old) => current.vars.insert(token.var, self.name, old),
                None => current.vars.remove(token.var),
            }))
        })?;
        // The displaced value is dropped here, outside the borrow: its `Drop` may use contexts.
        drop(displaced);
        Ok(())
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// A clone of the value in the current context, or of the default, or `None`
    /// (Python's `var.get(None)`). Use [`with`](Self::with) to borrow instead of cloning.
    ///
    /// The clone is made while the current context is borrowed: a `Clone` impl that itself
    /// *sets* a context variable panics (reading is fine). [`with`](Self::with) has no such
    /// restriction.
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// static TENANT: ContextVar<u32> = ContextVar::new("tenant");
    /// assert_eq!(TENANT.get(), None);
    /// let _token = TENANT.set(7);
    /// assert_eq!(TENANT.get(), Some(7));
    /// // A plain std::thread starts in an empty context, as in Python.
    /// assert_eq!(std::thread::spawn(|| TENANT.get()).join().unwrap(), None);
    /// ```
    #[inline]
    pub fn get(&self) -> Option<T> {
        let id = self.id_if_assigned();
        if id != 0 {
            let found = THREAD.try_with(|thread| {
                #[cfg(feature = "tokio")]
                if let Some(task) = thread.task() {
                    // Cloned outside the table's lock.
                    let value = task::value(task, id);
                    return value.and_then(|v| v.downcast_ref::<T>().cloned());
                }
                thread.current.borrow().vars.get_typed::<T>(id).cloned()
            });
            if let Ok(Some(value)) = found {
                return Some(value);
            }
        }
        self.default.clone()
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    /// `ContextVar("request_id")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextVar").field(&self.name).finish()
    }
}

/// What [`ContextVar::set`] returns: the means to undo that `set` with
/// [`ContextVar::reset`]. Python's `contextvars.Token`.
///
/// A token is tied to the variable and the context it was made in. It is `Send`, so it can be
/// held across an `.await`, but resetting it in another context is an error.
///
/// Dropping a token does nothing, as in Python, except for a token made in the own context of a
/// tokio task spawned without keel (feature `tokio`): there it is a guard, and its drop ends its
/// `set` as [`reset`](ContextVar::reset) would, wherever it is dropped. That is how such a task's
/// values go with it: keel sees its future, and the tokens it holds, dropped. See
/// [Plain tokio tasks](super#plain-tokio-tasks).
///
/// ```
/// use keel_runtime::context::ContextVar;
/// static LEVEL: ContextVar<u8> = ContextVar::new("level");
/// let outer = LEVEL.set(1);
/// let inner = LEVEL.set(2);
/// assert_eq!(inner.var_name(), "level");
/// assert_eq!(inner.old_value(), Some(&1));
/// assert_eq!(outer.old_value(), None);
/// LEVEL.reset(inner).unwrap();
/// assert_eq!(LEVEL.get(), Some(1));
/// LEVEL.reset(outer).unwrap();
/// assert_eq!(LEVEL.get(), None);
/// ```
#[must_use = "a Token is how a `set` is undone; pass it to `reset` (in a plain tokio task, the value lasts only as long as the token)"]
pub struct Token<T> {
    var: usize,
    var_name: &'static str,
    context: u64,
    old: Option<Value>,
    /// Set when the token was made in a tokio task's own context: its frame there, ended when
    /// the token is reset or dropped.
    #[cfg(feature = "tokio")]
    task: Option<task::TaskToken>,
    _value: PhantomData<fn() -> T>,
}

#[cfg(feature = "tokio")]
impl<T> Drop for Token<T> {
    /// A token made in a tokio task's own context ends its `set` (see [`ContextVar::set`]);
    /// any other token does nothing, as in Python.
    #[inline]
    fn drop(&mut self) {
        if let Some(frame) = self.task.take() {
            // The displaced values are dropped here, after the table's lock.
            drop(task::end(frame));
        }
    }
}

/// What a reset takes out of a context, to drop once nothing is borrowed or locked.
enum Displaced {
    Value(#[allow(dead_code)] Option<Value>),
    #[cfg(feature = "tokio")]
    Task(#[allow(dead_code)] task::Displaced),
}

impl<T: 'static> Token<T> {
    /// The value the variable had before the `set` (Python's `Token.old_value`), or `None` if
    /// it had none (`Token.MISSING`).
    ///
    /// ```
    /// static N: keel_runtime::context::ContextVar<i32> = keel_runtime::context::ContextVar::new("n");
    /// let first = N.set(5);
    /// assert_eq!(first.old_value(), None);
    /// let second = N.set(6);
    /// assert_eq!(second.old_value(), Some(&5));
    /// ```
    pub fn old_value(&self) -> Option<&T> {
        self.old.as_deref().and_then(|v| v.downcast_ref::<T>())
    }
}

impl<T> Token<T> {
    /// The name of the variable that made this token (Python's `Token.var`).
    ///
    /// ```
    /// static N: keel_runtime::context::ContextVar<i32> = keel_runtime::context::ContextVar::new("n");
    /// assert_eq!(N.set(1).var_name(), "n");
    /// ```
    pub fn var_name(&self) -> &'static str {
        self.var_name
    }
}

impl<T> fmt::Debug for Token<T> {
    /// `Token { var: "request_id", context: 3, had_value: false }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("var", &self.var_name)
            .field("context", &self.context)
            .field("had_value", &self.old.is_some())
            .finish()
    }
}

/// Why [`ContextVar::reset`] refused a token. Both cases leave the context unchanged.
///
/// ```
/// use keel_runtime::context::{ContextError, ContextVar};
/// static ID: ContextVar<u32> = ContextVar::new("id");
/// let token = ID.set(1);
/// let err = std::thread::spawn(move || ID.reset(token)).join().unwrap().unwrap_err();
/// assert!(matches!(err, ContextError::WrongContext { var: "id", .. }));
/// assert!(err.to_string().starts_with("cannot reset context variable `id`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The token was made by another variable's `set`.
    #[error(
        "cannot reset context variable `{var}` with a token created by context variable `{token_var}`"
    )]
    WrongVariable {
        /// The variable `reset` was called on.
        var: &'static str,
        /// The variable whose `set` made the token.
        token_var: &'static str,
    },
    /// The token was made in another context: another thread, or the other side of a
    /// [`Context::run`](super::Context::run) boundary.
    #[error(
        "cannot reset context variable `{var}`: the token was created in context #{token_context}, the current context is #{current_context}"
    )]
    WrongContext {
        /// The variable `reset` was called on.
        var: &'static str,
        /// The id of the context the token was made in.
        token_context: u64,
        /// The id of the current context (0 if nothing was ever set in it).
        current_context: u64,
    },
}
