//! The stack of open keel transactions per connection: how deep a new transaction nests, and the
//! rollback-only mark a failed joined body leaves on its outer transaction.

use std::cell::RefCell;
use std::marker::PhantomData;
#[cfg(any(feature = "tokio-postgres", feature = "sqlx", test))]
use std::sync::{Mutex, PoisonError};

/// One keel transaction open on a connection (keyed by the connection's address, stable while
/// the transaction borrows it).
pub(crate) struct Frame {
    conn: usize,
    rollback_only: bool,
}

/// Where the open keel transactions are kept.
pub(crate) trait FrameStore {
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R;
}

/// Blocking transactions: the frames of this thread (a blocking body never leaves it).
pub(crate) struct ThreadFrames;

thread_local! {
    static THREAD_FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

impl FrameStore for ThreadFrames {
    #[inline]
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R {
        THREAD_FRAMES.with_borrow_mut(f)
    }
}

/// Async transactions: one process-wide list, since a task moves between worker threads at any
/// `.await`. Short critical sections (a push, a pop, a scan of the few open transactions).
#[cfg(any(feature = "tokio-postgres", feature = "sqlx", test))]
pub(crate) struct SharedFrames;

#[cfg(any(feature = "tokio-postgres", feature = "sqlx", test))]
impl FrameStore for SharedFrames {
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R {
        static FRAMES: Mutex<Vec<Frame>> = Mutex::new(Vec::new());
        f(&mut FRAMES.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The connection's key in a [`FrameStore`].
pub(crate) fn conn_key<C: ?Sized>(conn: &C) -> usize {
    (conn as *const C).cast::<()>() as usize
}

/// How many keel transactions are open on `key`.
pub(crate) fn open_depth<S: FrameStore>(key: usize) -> usize {
    S::with(|frames| frames.iter().filter(|f| f.conn == key).count())
}

/// Marks the innermost keel transaction on `key` rollback-only (a joined body failed).
pub(crate) fn mark_rollback_only<S: FrameStore>(key: usize) {
    S::with(|frames| {
        if let Some(frame) = frames.iter_mut().rev().find(|f| f.conn == key) {
            frame.rollback_only = true;
        }
    });
}

/// The frame of one open transaction; removed on drop, so the stack stays right when a database
/// call panics or the transaction's future is dropped.
pub(crate) struct FrameGuard<S: FrameStore> {
    key: usize,
    store: PhantomData<fn() -> S>,
}

impl<S: FrameStore> FrameGuard<S> {
    pub fn push(key: usize) -> Self {
        S::with(|frames| {
            frames.push(Frame {
                conn: key,
                rollback_only: false,
            })
        });
        Self {
            key,
            store: PhantomData,
        }
    }

    /// Removes the frame; true when a joined inner transaction marked it rollback-only.
    pub fn pop(self) -> bool {
        let key = self.key;
        std::mem::forget(self);
        remove::<S>(key)
    }
}

impl<S: FrameStore> Drop for FrameGuard<S> {
    fn drop(&mut self) {
        remove::<S>(self.key);
    }
}

/// Removes the innermost frame on `key`.
fn remove<S: FrameStore>(key: usize) -> bool {
    S::with(|frames| match frames.iter().rposition(|f| f.conn == key) {
        Some(i) => frames.remove(i).rollback_only,
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_frames_pop_their_own_connection() {
        let (a, b) = (0x1000, 0x2000);
        let fa = FrameGuard::<SharedFrames>::push(a);
        let fb = FrameGuard::<SharedFrames>::push(b);
        mark_rollback_only::<SharedFrames>(a);
        assert_eq!(open_depth::<SharedFrames>(a), 1);
        assert!(fa.pop(), "a's mark went to a");
        assert_eq!(open_depth::<SharedFrames>(b), 1);
        drop(fb);
        assert_eq!(open_depth::<SharedFrames>(b), 0);
    }
}
