//! tokio's spawn functions, carrying the current context (feature `tokio`).
//!
//! Python copies the current context into every asyncio task (`asyncio.create_task` takes a
//! `copy_context()`); `tokio::spawn` knows nothing of keel, so its task starts in an empty
//! context of its own (isolation without inheritance, see
//! [Plain tokio tasks](super#plain-tokio-tasks)). These are
//! tokio's own functions, with the same signatures and return types, that take a snapshot of the
//! current context (its variables and its current call) at the call and run the task or closure
//! in it: the task has its own copy, so what it sets stays in it and the caller sees no change.
//!
//! ```
//! use keel_runtime::context::{self, ContextVar};
//! static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let _token = REQUEST_ID.set(42);
//! let carried = context::tokio::spawn(async { REQUEST_ID.get() });
//! let plain = tokio::spawn(async { REQUEST_ID.get() });
//! assert_eq!(carried.await.unwrap(), Some(42));
//! assert_eq!(plain.await.unwrap(), None);
//! # }
//! ```

use super::{Context, Scoped, wrap};
use core::future::Future;
use tokio::task::JoinHandle;

/// [`tokio::spawn`], with the task running in a copy of the current context.
///
/// The snapshot is taken when `spawn` is called; every poll of the task, on whichever worker
/// thread, runs in it. Panics as `tokio::spawn` does (outside a runtime).
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let _token = USER.set("ada");
/// let task = context::tokio::spawn(async {
///     tokio::task::yield_now().await; // may resume on another worker
///     let seen = USER.get();
///     let _inner = USER.set("grace"); // stays in the task
///     seen
/// });
/// assert_eq!(task.await.unwrap(), Some("ada"));
/// assert_eq!(USER.get(), Some("ada"));
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::task::spawn(in_current(future))
}

/// [`tokio::task::spawn_blocking`], with the closure running in a copy of the current context.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let _token = USER.set("ada");
/// let seen = context::tokio::spawn_blocking(|| USER.get()).await.unwrap();
/// assert_eq!(seen, Some("ada"));
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(wrap(f))
}

/// [`tokio::task::spawn_local`], with the task running in a copy of the current context. Like
/// tokio's, it must be called inside a `LocalSet` (or a local runtime) and panics otherwise.
///
/// ```
/// use keel_runtime::context::{self, ContextVar};
/// use std::rc::Rc;
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let local = tokio::task::LocalSet::new();
/// let _token = USER.set("ada");
/// let seen = local
///     .run_until(async {
///         let not_send = Rc::new(());
///         context::tokio::spawn_local(async move { (USER.get(), Rc::strong_count(&not_send)) })
///             .await
///             .unwrap()
///     })
///     .await;
/// assert_eq!(seen, (Some("ada"), 1));
/// # }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(in_current(future))
}

#[inline]
fn in_current<F: Future>(future: F) -> Scoped<F> {
    Context::current().scope(future)
}
