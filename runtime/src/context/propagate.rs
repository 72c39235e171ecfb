//! Carrying a context across threads and tasks: [`wrap`], [`spawn`], the [`Scoped`] future and
//! [`FutureExt`].

use super::Context;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};

/// Wraps `f` so that, wherever and whenever it runs, it runs in a copy of the context current
/// *now*: Python's `ctx = copy_context(); pool.submit(ctx.run, f)`.
///
/// This is how request-local values reach thread-pool workers, which otherwise see their own
/// (empty) context. The returned closure is `Send` whenever `f` is.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// use std::sync::mpsc;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// // A one-thread "pool": it runs whatever closures it is sent.
/// let (jobs, queue) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
/// let worker = std::thread::spawn(move || queue.into_iter().for_each(|job| job()));
///
/// let _token = REQUEST_ID.set("req-42".into());
/// let (tx, rx) = mpsc::channel();
/// let tx2 = tx.clone();
/// jobs.send(Box::new(context::wrap(move || tx.send(REQUEST_ID.get()).unwrap()))).unwrap();
/// jobs.send(Box::new(move || tx2.send(REQUEST_ID.get()).unwrap())).unwrap(); // not wrapped
/// assert_eq!(rx.recv().unwrap().as_deref(), Some("req-42"));
/// assert_eq!(rx.recv().unwrap(), None);
/// drop(jobs);
/// worker.join().unwrap();
/// ```
pub fn wrap<F, R>(f: F) -> impl FnOnce() -> R
where
    F: FnOnce() -> R,
{
    let mut context = Context::current();
    move || context.run(f)
}

/// [`std::thread::spawn`], carrying a copy of the current context into the new thread.
///
/// A plain `std::thread::spawn` starts in an empty context, as a new Python thread does.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// let _token = USER.set("ada");
/// assert_eq!(context::spawn(|| USER.get()).join().unwrap(), Some("ada"));
/// assert_eq!(std::thread::spawn(|| USER.get()).join().unwrap(), None);
/// ```
pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(wrap(f))
}

pin_project_lite::pin_project! {
    /// A future that runs every poll of the inner future inside its own [`Context`]; made by
    /// [`Context::scope`].
    ///
    /// Each task gets its own context, as each asyncio task gets a copy of the context it was
    /// created in: values a task sets stay in that task, however the executor interleaves them.
    /// The inner future is dropped outside the context.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static TASK: ContextVar<u32> = ContextVar::new("task");
    ///
    /// let scoped = Context::new().scope(async {
    ///     let _token = TASK.set(1);
    ///     TASK.get()
    /// });
    /// assert_eq!(scoped.context().names().count(), 0);
    /// // (poll it with any executor; see `Context::scope`)
    /// # drop(scoped);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        context: Context,
        #[pin]
        future: F,
    }
}

impl<F> Scoped<F> {
    pub(super) fn new(context: Context, future: F) -> Self {
        Self { context, future }
    }

    /// The context the future runs in, with every change made by the polls so far.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let _token = V.set(3);
    /// let scoped = Context::current().scope(async {});
    /// assert_eq!(scoped.context().get(&V), Some(3));
    /// ```
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The context and the inner future, taken apart.
    ///
    /// ```
    /// use keel_runtime::context::Context;
    /// let (context, future) = Context::new().scope(async { 1 }).into_parts();
    /// assert!(context.is_empty());
    /// # drop(future);
    /// ```
    pub fn into_parts(self) -> (Context, F) {
        (self.context, self.future)
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        this.context.run(|| future.poll(cx))
    }
}

/// Carrying a context into a future, for any executor: `.in_current_context()`, named after
/// `tracing`'s `.in_current_span()`.
///
/// ```
/// use keel_runtime::context::{ContextVar, FutureExt};
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let token = USER.set("ada");
/// let task = async { USER.get() }.in_current_context(); // the snapshot is taken here
/// USER.reset(token).unwrap();
/// assert_eq!(USER.get(), None, "the caller's value is gone");
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(std::pin::pin!(task).poll(&mut cx), Poll::Ready(Some("ada")));
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs every poll of this future in a copy of the context current now (its values and its
    /// current call): [`Context::current`]`().`[`scope`](Context::scope)`(self)`, an asyncio
    /// task's own context. Whatever the future sets stays in it.
    fn in_current_context(self) -> Scoped<Self> {
        Context::current().scope(self)
    }

    /// Runs every poll of this future in `context`: `context.scope(self)`.
    ///
    /// ```
    /// use keel_runtime::context::{Context, ContextVar, FutureExt};
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let scoped = async { V.get() }.in_context(Context::new());
    /// assert!(scoped.context().is_empty());
    /// # drop(scoped);
    /// ```
    fn in_context(self, context: Context) -> Scoped<Self> {
        context.scope(self)
    }
}

impl<F: Future> FutureExt for F {}
