//! [`ExitStack`]: Python's `contextlib.ExitStack` — any number of guards and cleanup callbacks,
//! undone in reverse order.

use std::any::Any;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// What a cleanup callback may return: `()` (cannot fail) or `Result<(), E>`.
///
/// ```
/// use keel_runtime::tx::CallbackResult;
/// assert_eq!(CallbackResult::<&str>::into_result(()), Ok(()));
/// assert_eq!(Err::<(), _>("disk full").into_result(), Err("disk full"));
/// ```
pub trait CallbackResult<E> {
    /// The callback's outcome as a `Result`.
    fn into_result(self) -> Result<(), E>;
}

impl<E> CallbackResult<E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<E> CallbackResult<E> for Result<(), E> {
    fn into_result(self) -> Result<(), E> {
        self
    }
}

type Entry<'a, E> = Box<dyn FnOnce() -> Result<(), E> + 'a>;

/// A stack of guards and cleanup callbacks, run last-in first-out when the stack is dropped or
/// [`close`](Self::close)d: Python's `contextlib.ExitStack`.
///
/// * [`push`](Self::push) takes ownership of a guard (a lock guard, a temp file, anything with a
///   `Drop`); it is dropped in its turn.
/// * [`callback`](Self::callback) registers a closure returning `()` or `Result<(), E>`.
/// * [`pop_all`](Self::pop_all) moves everything into a new stack, leaving this one empty: the
///   all-or-nothing acquisition pattern (acquire N things; if one fails, the stack releases the
///   ones before it; if all succeed, hand the whole set on).
/// * [`close`](Self::close) runs every entry — even after some fail — and returns all errors.
///   Dropping the stack does the same but can only discard the errors.
///
/// A panicking callback does not stop the others: the remaining entries still run, then the
/// first panic continues (while the thread is already panicking, later panics are dropped).
///
/// ```
/// use keel_runtime::tx::ExitStack;
/// use std::cell::RefCell;
///
/// /// Opens every name or none: on failure the ones already open are closed again.
/// fn open_all<'a>(
///     log: &'a RefCell<Vec<String>>,
///     names: &[&'static str],
///     bad: &str,
/// ) -> Result<ExitStack<'a>, String> {
///     let mut stack = ExitStack::new();
///     for &name in names {
///         if name == bad {
///             return Err(format!("cannot open {name}")); // `stack` drops: earlier ones close
///         }
///         log.borrow_mut().push(format!("open {name}"));
///         stack.callback(move || log.borrow_mut().push(format!("close {name}")));
///     }
///     Ok(stack.pop_all())
/// }
///
/// let log = RefCell::new(Vec::new());
/// assert!(open_all(&log, &["a", "b", "c"], "c").is_err());
/// assert_eq!(*log.borrow(), ["open a", "open b", "close b", "close a"]);
///
/// log.borrow_mut().clear();
/// let held = open_all(&log, &["a", "b"], "").unwrap();
/// assert_eq!(*log.borrow(), ["open a", "open b"]); // still held
/// drop(held);
/// assert_eq!(*log.borrow(), ["open a", "open b", "close b", "close a"]);
/// ```
pub struct ExitStack<'a, E = Infallible> {
    entries: Vec<Entry<'a, E>>,
}

impl<'a, E> ExitStack<'a, E> {
    /// An empty stack. `E` is the error type of fallible callbacks (inferred from them, or
    /// `Infallible` when annotated as plain `ExitStack`).
    ///
    /// ```
    /// let stack: keel_runtime::tx::ExitStack = keel_runtime::tx::ExitStack::new();
    /// assert!(stack.is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Takes ownership of `guard`; it is dropped when its turn comes (last pushed, first
    /// dropped).
    ///
    /// ```
    /// use std::sync::Mutex;
    /// let (a, b) = (Mutex::new(1), Mutex::new(2));
    /// let mut stack: keel_runtime::tx::ExitStack = keel_runtime::tx::ExitStack::new();
    /// stack.push(a.lock().unwrap());
    /// stack.push(b.lock().unwrap());
    /// assert!(a.try_lock().is_err());
    /// drop(stack);
    /// assert!(a.try_lock().is_ok() && b.try_lock().is_ok());
    /// ```
    pub fn push<G: 'a>(&mut self, guard: G) {
        self.entries.push(Box::new(move || {
            drop(guard);
            Ok(())
        }));
    }

    /// Registers a cleanup closure returning `()` or `Result<(), E>`.
    ///
    /// ```
    /// use keel_runtime::tx::ExitStack;
    /// let mut stack = ExitStack::<String>::new();
    /// stack.callback(|| println!("infallible cleanup"));
    /// stack.callback(|| Err("flush failed".to_string()));
    /// assert_eq!(stack.close(), Err(vec!["flush failed".to_string()]));
    /// ```
    pub fn callback<F, R>(&mut self, callback: F)
    where
        F: FnOnce() -> R + 'a,
        R: CallbackResult<E>,
    {
        self.entries
            .push(Box::new(move || callback().into_result()));
    }

    /// Moves every entry into a new stack and leaves this one empty, so nothing runs when this
    /// one is dropped: the caller now owns the cleanup.
    ///
    /// ```
    /// use keel_runtime::tx::ExitStack;
    /// let mut stack = ExitStack::<()>::new();
    /// stack.callback(|| ());
    /// let moved = stack.pop_all();
    /// assert_eq!((stack.len(), moved.len()), (0, 1));
    /// ```
    pub fn pop_all(&mut self) -> Self {
        Self {
            entries: std::mem::take(&mut self.entries),
        }
    }

    /// Runs every entry, last first — including those after a failing one — and returns the
    /// errors in the order they happened.
    ///
    /// ```
    /// use keel_runtime::tx::ExitStack;
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("first registered"));
    /// stack.callback(|| Ok(()));
    /// stack.callback(|| Err("last registered"));
    /// assert_eq!(stack.close(), Err(vec!["last registered", "first registered"]));
    /// ```
    pub fn close(mut self) -> Result<(), Vec<E>> {
        let mut errors = Vec::new();
        unwind(&mut self.entries, |error| errors.push(error));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// How many guards and callbacks are waiting.
    ///
    /// ```
    /// let mut stack: keel_runtime::tx::ExitStack = keel_runtime::tx::ExitStack::new();
    /// stack.push(String::from("guard"));
    /// assert_eq!(stack.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is waiting.
    ///
    /// ```
    /// let stack: keel_runtime::tx::ExitStack = keel_runtime::tx::ExitStack::new();
    /// assert!(stack.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Runs and removes every entry, last first. A panic in one entry does not skip the others; the
/// first panic resumes afterwards unless the thread is already panicking.
fn unwind<E>(entries: &mut Vec<Entry<'_, E>>, mut on_error: impl FnMut(E)) {
    let mut first_panic: Option<Box<dyn Any + Send>> = None;
    while let Some(entry) = entries.pop() {
        match catch_unwind(AssertUnwindSafe(entry)) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => on_error(error),
            Err(panic) => {
                first_panic.get_or_insert(panic);
            }
        }
    }
    if let Some(panic) = first_panic
        && !std::thread::panicking()
    {
        resume_unwind(panic);
    }
}

impl<E> Default for ExitStack<'_, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Drop for ExitStack<'_, E> {
    /// Runs whatever is left, last first; errors are discarded (use [`close`](Self::close) to
    /// see them).
    fn drop(&mut self) {
        unwind(&mut self.entries, drop);
    }
}

impl<E> std::fmt::Debug for ExitStack<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitStack")
            .field("entries", &self.entries.len())
            .finish()
    }
}
