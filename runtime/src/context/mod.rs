//! Context variables: request-local state that follows the work across threads and tasks,
//! Python's `contextvars` (PEP 567).
//!
//! | Python | keel |
//! |---|---|
//! | `request_id = ContextVar("request_id")` | `static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");` |
//! | `ContextVar("lang", default="en")` | [`ContextVar::with_default`]`("lang", "en")` |
//! | `var.get(None)` | [`ContextVar::get`] (a clone) or [`ContextVar::with`] (a borrow) |
//! | `token = var.set(v)`; `var.reset(token)` | [`ContextVar::set`] → [`Token`]; [`ContextVar::reset`] → `Result<(), ContextError>` |
//! | `ctx = copy_context()` | [`Context::current()`] (O(1)) |
//! | `ctx.run(f)` | [`Context::run`] |
//! | `pool.submit(copy_context().run, f)` | `pool.execute(`[`wrap`]`(f))` |
//! | `threading.Thread(target=f)` (empty context) | `std::thread::spawn(f)` (empty context) |
//! | a thread that should inherit | [`spawn`] |
//! | an asyncio task's own context | [`Context::scope`]`(future)`, `future.`[`in_current_context`](FutureExt::in_current_context)`()` |
//! | `asyncio.create_task(coro)` (copies the context) | [`context::tokio::spawn`](tokio::spawn)`(future)` (feature `tokio`) |
//! | `asyncio.create_task(coro, context=Context())` (a new, empty one) | `tokio::spawn(future)` (feature `tokio`; see [below](#plain-tokio-tasks)) |
//! | `loop.run_in_executor(None, f)` | [`context::tokio::spawn_blocking`](tokio::spawn_blocking)`(f)` |
//! | `map(functools.partial(ctx.run, f), items)` | `items.par_iter().map(`[`bind`]`(f))` (rayon) |
//!
//! # Where does my context go?
//!
//! A context (its variables, and the traced call that was running, which becomes the parent of
//! calls made on the other side) goes wherever work is handed off with a keel function, as a
//! copy: what the child sets stays in the child, and the parent never sees it. A tokio task
//! spawned plainly (feature `tokio`) gets an empty context of its own instead. Work handed off
//! any other way runs in the context of the thread that happens to run it.
//!
//! | hand-off | what the child sees |
//! |---|---|
//! | `std::thread::spawn(f)` | an empty context, no caller (a new Python thread) |
//! | [`context::spawn`](spawn)`(f)` | a copy of the spawner's context; the spawner's call as caller |
//! | a thread pool, `pool.execute(f)` | the worker thread's own context: empty, or whatever earlier jobs on that worker set in it (a leak) |
//! | a thread pool, `pool.execute(`[`wrap`]`(f))` | a copy of the submitter's context, caller included |
//! | `tokio::spawn(fut)` (feature `tokio`) | isolation, no inheritance: an empty context of the task's own, on whichever worker; what the task sets follows it, no other task sees it, and it goes with the task ([below](#plain-tokio-tasks)) |
//! | [`context::tokio::spawn`](tokio::spawn)`(fut)` (feature `tokio`) | isolation and inheritance: a copy of the spawner's context (and its call as caller) at every poll, on whichever worker; values the task sets follow it |
//! | `tokio::task::spawn_blocking(f)` (feature `tokio`) | an empty context of the closure's own, as `tokio::spawn` |
//! | [`context::tokio::spawn_blocking`](tokio::spawn_blocking)`(f)`, [`spawn_local`](tokio::spawn_local)`(fut)` | a copy of the spawner's context |
//! | rayon, `par_iter().map(f)`, `rayon::spawn(f)`, `rayon::join(a, b)` | the rayon worker's own context (empty, or what earlier work on that worker set) |
//! | rayon, `par_iter().map(`[`bind`]`(f))` | a fresh copy of the context of the `bind` call for every item |
//! | [`context::rayon::{spawn, join, scope}`](rayon) (feature `rayon`) | a copy of the caller's context in each closure |
//! | any executor, `executor.spawn(fut)` | the executor thread's context at each poll |
//! | any executor, `executor.spawn(fut.`[`in_current_context`](FutureExt::in_current_context)`())` | a copy of the context where `in_current_context` was called, at every poll |
//!
//! `tests/context_handoff.rs` checks each row on a multi-thread tokio runtime, with tasks that
//! yield and move between workers; `tests/context_tasks.rs` interleaves hundreds of plain tasks.
//!
//! Every thread starts in an empty context. `set` changes only the current context;
//! [`Context::current`] takes a snapshot that later `set`s do not affect; [`Context::run`]
//! enters a context for the duration of a closure, and whatever the closure sets stays in that
//! context, even if it panics.
//!
//! ```
//! use keel_runtime::context::{self, Context, ContextVar};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! let token = REQUEST_ID.set("req-42".into());
//! let seen = context::spawn(|| REQUEST_ID.get()).join().unwrap();
//! assert_eq!(seen.as_deref(), Some("req-42"));
//!
//! let mut ctx = Context::current();
//! ctx.run(|| {
//!     let _inner = REQUEST_ID.set("req-43".into());
//! });
//! assert_eq!(ctx.get(&REQUEST_ID).as_deref(), Some("req-43"), "the change stayed in ctx");
//! assert_eq!(REQUEST_ID.get().as_deref(), Some("req-42"), "and did not leak out");
//! REQUEST_ID.reset(token).unwrap();
//! ```
//!
//! # Plain tokio tasks
//!
//! With the `tokio` feature, a task spawned with plain `tokio::spawn` (or a closure given to
//! `tokio::task::spawn_blocking`) has a context of its own, as an asyncio task created with
//! `context=contextvars.Context()`: empty at its start, whatever the spawner or the worker has;
//! what it sets is seen by the task wherever it resumes and by no other task; a child task it
//! spawns plainly starts empty too (use [`context::tokio::spawn`](tokio::spawn) to hand it a
//! copy). Inside a context the task enters itself ([`Context::run`], [`Context::scope`], keel's
//! spawn functions) that context is the current one, as anywhere else.
//!
//! keel cannot see such a task end, only its future being dropped: the values a plain task sets
//! live as long as the [`Token`]s of their `set`s. Dropping a token there ends its `set` (the
//! variable shows the latest `set` whose token is alive, or nothing), in whatever order the
//! tokens go; a task's tokens go with its future when it completes, is aborted or its runtime
//! shuts down, and the task's context with them. So keep the token for as long as the value
//! should last, as Python code keeps the task alive:
//!
//! ```
//! use keel_runtime::context::ContextVar;
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! # #[cfg(not(feature = "tokio"))] fn main() {}
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let _main = REQUEST_ID.set("main".into()); // block_on's future: this thread's context
//! let task = tokio::spawn(async {
//!     assert_eq!(REQUEST_ID.get(), None, "a plain task starts empty");
//!     let _token = REQUEST_ID.set("req-1".into()); // lasts while `_token` does
//!     tokio::task::yield_now().await; // may resume on another worker: the value follows
//!     let child = tokio::spawn(async { REQUEST_ID.get() }).await.unwrap();
//!     let carried = keel_runtime::context::tokio::spawn(async { REQUEST_ID.get() });
//!     (REQUEST_ID.get(), child, carried.await.unwrap())
//! });
//! let (own, child, carried) = task.await.unwrap();
//! assert_eq!(own.as_deref(), Some("req-1"));
//! assert_eq!(child, None, "plain spawn: isolation, no inheritance");
//! assert_eq!(carried.as_deref(), Some("req-1"), "keel's spawn: a copy");
//! assert_eq!(REQUEST_ID.get().as_deref(), Some("main"), "nothing came back");
//! # }
//! ```
//!
//! `let _ = VAR.set(v)` (which drops the token at once) therefore sets nothing lasting in a plain
//! task; a `mem::forget`ten token keeps its value (and its task's entry) alive forever, seen by
//! no one. Tokens made anywhere else keep Python's rules: dropping one does nothing, only
//! [`ContextVar::reset`] undoes its `set`. The task's context is kept in a table shared by the
//! process (sharded, keyed by `tokio::task::Id`), so `get` and `set` there take a lock (tens of
//! nanoseconds, see BENCHMARKS.md); a task that uses context variables a lot is better spawned
//! with [`context::tokio::spawn`](tokio::spawn), whose context is entered at each poll.
//!
//! Without the `tokio` feature keel does not know tokio's tasks: a plain task then runs in the
//! worker thread's own context, where what it sets is seen by the next tasks on that worker. So
//! a program that uses context variables on tokio turns the feature on (keel's `sqlx` and
//! `tokio-postgres` features turn it on themselves).
//!
//! # Entering a context twice
//!
//! Python raises `RuntimeError` when `ctx.run` is called on a context that is already entered,
//! in this thread or another. In keel that mistake does not compile: [`Context::run`] takes
//! `&mut self`, so one `Context` can be entered in one place at a time. Cloning a context (or
//! [`Context::current`]) makes a *new* context, as Python's `ctx.copy()` does, which may be
//! entered anywhere.
//!
//! # Cost
//!
//! Values live in a small vector sorted by variable id behind an `Arc`, copied on write: `get`
//! is a thread-local read and a short scan, [`Context::current`] at most one reference-count
//! increment (none when the last snapshot was dropped on the same thread, which parks its
//! reference for the next one), and `set` edits in place unless a snapshot shares the vector.
//! BENCHMARKS.md has the figures and the comparison with persistent maps (`rpds`, `imbl`) that
//! chose this layout. With the `tokio` feature, each access and each entering of a context
//! first asks tokio which task is running (`tokio::task::try_id`, a call and a thread-local
//! read), to tell a plain task's code from the thread's; a plain task's own context costs a
//! lock of a shared table per access ([Plain tokio tasks](#plain-tokio-tasks)).

mod bind;
mod map;
mod propagate;
#[cfg(feature = "rayon")]
pub mod rayon;
#[cfg(feature = "tokio")]
mod task;
#[cfg(feature = "tokio")]
pub mod tokio;
mod var;

pub use bind::bind;
pub use propagate::{FutureExt, Scoped, spawn, wrap};
pub use var::{ContextError, ContextVar, Token};

// The current-call record (the leaf module `crate::call`): this module only stores, compares and
// restores it, opaquely.
use crate::call;

use core::cell::{Cell, RefCell};
use core::fmt;
use core::mem;
use map::Vars;
use std::sync::atomic::{AtomicU64, Ordering};

/// The context a thread is in: its variables and its identity (for token checks).
struct Current {
    vars: Vars,
    /// 0 until something is set in this context; see [`next_context_id`].
    id: u64,
}

impl Current {
    const EMPTY: Current = Current {
        vars: Vars::EMPTY,
        id: 0,
    };
}

/// What a thread keeps: its current context, and one spare reference to that context's
/// vector.
///
/// The spare makes a snapshot that is taken and dropped on the same thread (a tracer that
/// copies the context into every event, a `wrap` that runs inline) free of atomic operations:
/// dropping a [`Context`] whose vector is the current one parks its reference here instead of
/// decrementing the shared count, and the next [`Context::current`] takes it back instead of
/// incrementing it. On a machine where an uncontended atomic read-modify-write costs 10 ns,
/// that is most of a snapshot's cost.
///
/// The spare never keeps a vector alive longer than the thread's own contexts do. It is parked
/// only while its vector is the current context's, and released before that context stops
/// holding the vector: before a write that may copy it or a reset, and when a
/// [`Context::run`] leaves the context. A context suspended by an inner `run` keeps its vector
/// until it is current again, so the spare may point there meanwhile (the next snapshot parked
/// inside the `run` takes the spare's place). Dropping the spare therefore never drops the last
/// reference, and never runs a value's `Drop` while the thread's state is borrowed. The rules
/// are at the callers of [`ThreadState::release_spare_of`] and in `Context`'s `Drop`.
struct ThreadState {
    current: RefCell<Current>,
    spare: Cell<Vars>,
    /// The tokio task that entered `current` (`None`: the thread's own context, or one entered
    /// outside any task). Code of another task running on this thread uses its task's own
    /// context instead (see [`ThreadState::task`]).
    #[cfg(feature = "tokio")]
    owner: Cell<Option<::tokio::task::Id>>,
}

impl ThreadState {
    /// The tokio task whose own context (module `task`) the code running now uses instead of
    /// this thread's: the running task, unless it entered the current context itself. Code of a
    /// task spawned with plain `tokio::spawn` (or `spawn_blocking`) sees its task's context;
    /// inside a [`Context::run`] or a [`Scoped`] poll (keel's tokio `spawn` makes one) it sees
    /// that context, as outside tokio.
    #[cfg(feature = "tokio")]
    #[inline]
    fn task(&self) -> Option<::tokio::task::Id> {
        let running = ::tokio::task::try_id();
        if running.is_some() && running != self.owner.get() {
            running
        } else {
            None
        }
    }

    /// Drops the spare if it is a reference to `vars`'s vector, so that `vars` is the only
    /// reference this thread holds. (Its count then stays at least 1: `vars` holds one.)
    #[inline]
    fn release_spare_of(&self, vars: &Vars) {
        if self.spare_is(vars) {
            drop(self.spare.take());
        }
    }

    /// Whether the spare is a reference to `vars`'s vector, looked at where it lies.
    #[inline]
    fn spare_is(&self, vars: &Vars) -> bool {
        // SAFETY: a shared borrow of the cell's contents for the comparison only; nothing in it
        // can reach `self.spare` (it compares two pointers), so nothing writes the cell meanwhile.
        unsafe { &*self.spare.as_ptr() }.same_vector(vars)
    }
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            current: RefCell::new(Current::EMPTY),
            spare: Cell::new(Vars::EMPTY),
            #[cfg(feature = "tokio")]
            owner: Cell::new(None),
        }
    };
}

/// Source of context identities. A context gets one lazily, the first time a variable is set in
/// it, so snapshots that are only read never touch this shared counter.
static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_context_id() -> u64 {
    NEXT_CONTEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A set of context-variable values that code can run in: Python's `contextvars.Context`.
///
/// Get one with [`Context::current`] (a snapshot of the current context, O(1)) or
/// [`Context::new`] (empty). Enter it with [`run`](Self::run) or [`scope`](Self::scope); read
/// it without entering with [`get`](Self::get), [`contains`](Self::contains) and
/// [`names`](Self::names). A `Context` is `Clone + Send + Sync + Debug`, so tracers and loggers
/// can keep one in every event.
///
/// `clone()` is Python's `ctx.copy()`: the same values, a new identity (tokens made in one
/// cannot reset the other), in O(1).
///
/// ```
/// use keel_runtime::context::{Context, ContextVar};
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let _token = USER.set("ada");
/// let snapshot = Context::current();
/// let _token2 = USER.set("grace");
/// assert_eq!(snapshot.get(&USER), Some("ada"));
/// assert_eq!(format!("{snapshot:?}"), r#"Context { vars: ["user"] }"#);
/// ```
pub struct Context {
    vars: Vars,
    /// 0 until something is set while this context is entered.
    id: u64,
    /// The traced call that was running where the snapshot was taken: entering the context makes
    /// it the current call again, so calls made inside have it as their parent.
    call: Option<call::CurrentCall>,
}

impl Context {
    /// An empty context (Python's `contextvars.Context()`): every variable unset.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let _token = V.set(1);
    /// assert_eq!(Context::new().run(|| V.get()), None);
    /// ```
    pub const fn new() -> Self {
        Self {
            vars: Vars::EMPTY,
            id: 0,
            call: None,
        }
    }

    /// A snapshot of the current context (Python's `copy_context()`), in O(1): at most one
    /// reference-count increment, no copying (none when a snapshot of the same context was
    /// dropped on this thread since). Later `set`s in either context do not affect the other.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let _token = V.set(1);
    /// let mut ctx = Context::current();
    /// assert_eq!(ctx.run(|| V.get()), Some(1));
    /// ```
    #[inline]
    pub fn current() -> Self {
        let call = call::current();
        THREAD
            .try_with(|thread| {
                #[cfg(feature = "tokio")]
                if let Some(task) = thread.task() {
                    return Self {
                        vars: task::snapshot(task),
                        id: 0,
                        call,
                    };
                }
                let current = thread.current.borrow();
                if current.vars.is_none() {
                    return Self::with_call(call);
                }
                let vars = if thread.spare_is(&current.vars) {
                    thread.spare.take()
                } else {
                    current.vars.clone()
                };
                Self { vars, id: 0, call }
            })
            .unwrap_or(Self::with_call(call))
    }

    /// An empty context whose current call is `call`.
    #[inline]
    const fn with_call(call: Option<call::CurrentCall>) -> Self {
        Self {
            vars: Vars::EMPTY,
            id: 0,
            call,
        }
    }

    /// The traced call recorded in this context (crate-private: parents of calls made inside).
    #[cfg(feature = "trace")]
    #[inline]
    pub(crate) fn call(&self) -> Option<call::CurrentCall> {
        self.call
    }

    /// Whether this is a copy of `original` that nothing was set in since: the same values
    /// (the same vector, or both empty), no identity of its own yet, the same call.
    #[inline]
    pub(crate) fn is_unchanged_copy_of(&self, original: &Context) -> bool {
        let same_values = self.vars.same_vector(&original.vars)
            || (self.vars.is_none() && original.vars.is_none());
        same_values
            && self.id == 0
            && self.call.map(call::CurrentCall::key) == original.call.map(call::CurrentCall::key)
    }

    /// Makes `call` the traced call recorded in this context (a remote parent, for
    /// `trace::TraceParent::run`).
    #[cfg(feature = "trace")]
    #[inline]
    pub(crate) fn set_call(&mut self, call: Option<call::CurrentCall>) {
        self.call = call;
    }

    /// Runs `f` with this context as the current one, then restores the previous context, also
    /// when `f` panics. Whatever `f` sets stays in `self` (and is not seen outside). Calls nest.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    ///
    /// let mut ctx = Context::new();
    /// ctx.run(|| {
    ///     let _token = V.set(1);
    /// });
    /// assert_eq!(V.get(), None, "outside: unchanged");
    /// assert_eq!(ctx.get(&V), Some(1), "the context kept the change");
    /// assert_eq!(ctx.run(|| V.get()), Some(1), "and has it when entered again");
    /// ```
    ///
    /// One context cannot be entered twice at once (Python raises `RuntimeError`); here it is a
    /// borrow error:
    ///
    /// ```compile_fail,E0499
    /// let mut ctx = keel_runtime::context::Context::new();
    /// ctx.run(|| ctx.run(|| ()));
    /// ```
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let _entered = Entered::new(self);
        f()
    }

    /// Wraps `future` so that each of its polls runs in this context: a task's own context.
    /// Values the future sets stay in it and never leak into other tasks on the same thread.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context as Cx, Poll, Waker};
    ///
    /// static TASK: ContextVar<&str> = ContextVar::new("task");
    ///
    /// let mut task = pin!(Context::new().scope(async {
    ///     let _token = TASK.set("a");
    ///     std::future::ready(()).await;
    ///     TASK.get()
    /// }));
    /// let mut cx = Cx::from_waker(Waker::noop());
    /// assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Some("a")));
    /// assert_eq!(TASK.get(), None, "the task's value did not leak to the caller");
    /// ```
    pub fn scope<F: core::future::Future>(self, future: F) -> Scoped<F> {
        Scoped::new(self, future)
    }

    /// A clone of `var`'s value in this context, without entering it (Python's `ctx.get(var)`).
    /// Like Python's mapping view, this ignores the variable's default.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static LANG: ContextVar<&str> = ContextVar::with_default("lang", "en");
    /// assert_eq!(Context::current().get(&LANG), None);
    /// let _token = LANG.set("fr");
    /// assert_eq!(Context::current().get(&LANG), Some("fr"));
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        self.get_ref(var).cloned()
    }

    /// A reference to `var`'s value in this context, without cloning or entering it.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static PATH: ContextVar<String> = ContextVar::new("path");
    /// let _token = PATH.set("/api/users".into());
    /// let ctx = Context::current();
    /// assert_eq!(ctx.get_ref(&PATH).map(String::as_str), Some("/api/users"));
    /// ```
    pub fn get_ref<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<&T> {
        match var.id_if_assigned() {
            0 => None,
            id => self.vars.get_typed::<T>(id),
        }
    }

    /// Whether `var` has a value in this context (Python's `var in ctx`).
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert!(!Context::current().contains(&V));
    /// let _token = V.set(0);
    /// assert!(Context::current().contains(&V));
    /// ```
    pub fn contains<T: Send + Sync + 'static>(&self, var: &ContextVar<T>) -> bool {
        self.get_ref(var).is_some()
    }

    /// The names of the variables that have a value here, ordered by when each variable was
    /// first set anywhere in the program (for tracers and log lines).
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static REQUEST: ContextVar<u64> = ContextVar::new("request");
    /// static USER: ContextVar<&str> = ContextVar::new("user");
    /// let _r = REQUEST.set(1);
    /// let _u = USER.set("ada");
    /// let names: Vec<&str> = Context::current().names().collect();
    /// assert_eq!(names, ["request", "user"]);
    /// ```
    pub fn names(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        self.vars.names()
    }

    /// How many variables have a value here (Python's `len(ctx)`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::context::Context::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// True when no variable has a value here.
    ///
    /// ```
    /// assert!(keel_runtime::context::Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Context {
    /// An empty context, as [`Context::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Context {
    /// Python's `ctx.copy()`: the same values (shared, O(1)), a new identity.
    fn clone(&self) -> Self {
        Self {
            vars: self.vars.clone(),
            id: 0,
            call: self.call,
        }
    }
}

impl Drop for Context {
    /// Parks the reference in this thread's spare when it is one to the current context's vector
    /// (see `ThreadState`), dropping what the spare held before; otherwise drops it as usual.
    #[inline]
    fn drop(&mut self) {
        if self.vars.is_none() {
            return;
        }
        let _ = THREAD.try_with(|thread| {
            let displaced = {
                let Ok(current) = thread.current.try_borrow() else {
                    return;
                };
                if !self.vars.same_vector(&current.vars) {
                    return;
                }
                thread.spare.replace(mem::take(&mut self.vars))
            };
            // Outside the borrow, although it is never the vector's last reference (the spare
            // only holds vectors that this thread's contexts hold too).
            drop(displaced);
        });
    }
}

impl fmt::Debug for Context {
    /// `Context { vars: ["request_id", "user"] }`: the names of the variables set here.
    /// (Values are not required to be `Debug`; read them with [`Context::get`].)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Names<'a>(&'a Vars);
        impl fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.names()).finish()
            }
        }
        f.debug_struct("Context")
            .field("vars", &Names(&self.vars))
            .finish()
    }
}

/// While alive, `ctx` is this thread's current context; on drop (also during a panic) the
/// outer context comes back and `ctx` receives whatever was set meanwhile.
struct Entered<'a> {
    ctx: &'a mut Context,
    outer: Current,
    outer_call: Option<call::CurrentCall>,
    #[cfg(feature = "tokio")]
    outer_owner: Option<::tokio::task::Id>,
}

impl<'a> Entered<'a> {
    #[inline]
    fn new(ctx: &'a mut Context) -> Self {
        let inner = Current {
            vars: mem::take(&mut ctx.vars),
            id: ctx.id,
        };
        #[cfg(feature = "tokio")]
        let (outer, outer_owner) = THREAD.with(|thread| {
            (
                mem::replace(&mut *thread.current.borrow_mut(), inner),
                thread.owner.replace(::tokio::task::try_id()),
            )
        });
        #[cfg(not(feature = "tokio"))]
        let outer = THREAD.with(|thread| mem::replace(&mut *thread.current.borrow_mut(), inner));
        let outer_call = call::replace(ctx.call);
        Self {
            ctx,
            outer,
            outer_call,
            #[cfg(feature = "tokio")]
            outer_owner,
        }
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        // The call current at the end is the context's own again (spans restore what they
        // found); keeping it makes a span left open across a `scope`d future's polls current
        // again at the next poll.
        self.ctx.call = call::replace(self.outer_call);
        let outer = mem::replace(&mut self.outer, Current::EMPTY);
        // `try_with`: during thread teardown the thread-local may be gone; the context's
        // changes are then lost with the thread, which is all that can happen to them.
        if let Ok(inner) = THREAD.try_with(|thread| {
            let inner = mem::replace(&mut *thread.current.borrow_mut(), outer);
            #[cfg(feature = "tokio")]
            thread.owner.set(self.outer_owner);
            // `inner.vars` leaves the thread: the spare must not outlive it here.
            thread.release_spare_of(&inner.vars);
            inner
        }) {
            self.ctx.vars = inner.vars;
            self.ctx.id = inner.id;
        }
    }
}

/// How many tokio tasks have a context of their own now: tasks spawned without keel that hold
/// a live [`Token`] of a `set` made in their context. Not a public API (tests check that tasks'
/// values die with them).
///
/// ```
/// assert_eq!(keel_runtime::context::__live_task_contexts(), 0);
/// ```
#[cfg(feature = "tokio")]
#[doc(hidden)]
pub fn __live_task_contexts() -> usize {
    task::live()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    static V: ContextVar<u32> = ContextVar::new("unit.v");

    #[test]
    fn a_context_keeps_its_identity_across_runs_so_its_tokens_stay_valid() {
        let mut ctx = Context::new();
        let token = ctx.run(|| V.set(1));
        assert!(ctx.id != 0, "setting inside named the context");
        assert_eq!(V.get(), None);
        ctx.run(|| V.reset(token)).unwrap();
        assert_eq!(ctx.get(&V), None);
        assert!(ctx.is_empty());
    }

    #[test]
    fn clones_and_snapshots_are_new_contexts() {
        let mut ctx = Context::new();
        let token = ctx.run(|| V.set(1));
        let mut copy = ctx.clone();
        assert_eq!(copy.id, 0);
        assert_eq!(copy.get(&V), Some(1));
        let err = copy.run(|| V.reset(token)).unwrap_err();
        assert!(matches!(
            err,
            ContextError::WrongContext { var: "unit.v", .. }
        ));
        assert_eq!(copy.get(&V), Some(1), "a refused reset changes nothing");
    }

    /// The thread's current vector and its spare, as addresses.
    fn current_and_spare() -> (*const (), *const ()) {
        THREAD.with(|thread| {
            let spare = thread.spare.take();
            let addresses = (thread.current.borrow().vars.address(), spare.address());
            thread.spare.set(spare);
            addresses
        })
    }

    #[test]
    fn a_snapshot_dropped_on_its_thread_parks_its_reference_for_the_next() {
        let mut ctx = Context::new();
        ctx.run(|| {
            let _token = V.set(1);
            let (vector, spare) = current_and_spare();
            assert!(spare.is_null());
            drop(Context::current());
            assert_eq!(current_and_spare(), (vector, vector), "parked");
            let snapshot = Context::current();
            assert_eq!(
                current_and_spare(),
                (vector, core::ptr::null()),
                "taken back"
            );
            assert_eq!(snapshot.get(&V), Some(1));
            // Two snapshots dropped in turn: the second takes the place of the first.
            let other = Context::current();
            drop(snapshot);
            drop(other);
            assert_eq!(current_and_spare(), (vector, vector));
            // A run entered with the spare parked: inside, the inner context's snapshot takes
            // the spare's place, and leaving releases it.
            let mut inner = Context::new();
            inner.run(|| {
                let _token = V.set(9);
                let (inner_vector, spare) = current_and_spare();
                assert_eq!(
                    spare, vector,
                    "the outer context's spare stays while it is suspended"
                );
                drop(Context::current());
                assert_eq!(current_and_spare(), (inner_vector, inner_vector));
            });
            assert_eq!(current_and_spare(), (vector, core::ptr::null()));
            assert_eq!(inner.get(&V), Some(9));
            // A write releases the spare first, so it edits the unshared vector in place.
            let _token = V.set(2);
            assert_eq!(current_and_spare(), (vector, core::ptr::null()));
            drop(Context::current());
        });
        assert_eq!(
            current_and_spare().1,
            core::ptr::null(),
            "leaving the context released the spare it parked"
        );
        assert_eq!(ctx.get(&V), Some(2));
    }

    #[test]
    fn the_spare_never_keeps_values_alive() {
        struct Tracked(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Tracked {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        static T: ContextVar<Arc<Tracked>> = ContextVar::new("unit.tracked");
        let flag = || Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dropped = |f: &Arc<std::sync::atomic::AtomicBool>| f.load(Ordering::SeqCst);

        // Reset after a parked snapshot: the value goes with the reset.
        let first = flag();
        let token = T.set(Arc::new(Tracked(first.clone())));
        drop(Context::current());
        T.reset(token).unwrap();
        assert!(
            dropped(&first),
            "reset dropped the value despite the parked snapshot"
        );

        // A context left with a parked snapshot inside: the value goes with the context.
        let second = flag();
        let mut ctx = Context::new();
        ctx.run(|| {
            let _token = T.set(Arc::new(Tracked(second.clone())));
            drop(Context::current());
        });
        assert!(!dropped(&second));
        drop(ctx);
        assert!(dropped(&second), "dropping the context dropped the value");
    }

    #[test]
    fn reading_a_never_set_variable_assigns_no_id() {
        static NEVER: ContextVar<u8> = ContextVar::new("unit.never");
        assert_eq!(NEVER.get(), None);
        assert!(!Context::current().contains(&NEVER));
        assert_eq!(NEVER.id_if_assigned(), 0);
    }
}
