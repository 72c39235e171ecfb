//! `Flight`: one load of one key in progress, which every concurrent caller for the key joins.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The load of one key: the caller that started it runs its loader; the others wait here and
/// share its outcome.
pub(super) struct Flight<V: ?Sized> {
    state: Mutex<Inner<V>>,
    changed: Condvar,
}

/// The state, and how many callers wait for it to change: a load nobody waits for wakes nobody
/// (a `notify_all` is a system call even with no waiter).
struct Inner<V: ?Sized> {
    state: State<V>,
    waiting: usize,
}

enum State<V: ?Sized> {
    /// A caller is running its loader.
    Loading,
    /// The loader returned this value.
    Ready(Arc<V>),
    /// The loader failed with this error (an `E` of the loading call, type-erased): each caller
    /// that joined gets a clone.
    Failed(Box<dyn Any + Send>),
    /// Nobody is loading: the loader panicked. The next caller to join loads.
    Idle,
}

/// What a caller gets from [`Flight::join`].
pub(super) enum Joined<V: ?Sized, E> {
    /// The load succeeded.
    Ready(Arc<V>),
    /// The load failed with an error of this caller's type.
    Failed(E),
    /// The loader panicked: this caller now runs its own loader ([`Flight::run`]).
    Load,
    /// The load failed with an error of another type than this caller's (a fallible and an
    /// infallible load of one key): the caller looks the key up again.
    Retry,
}

impl<V: ?Sized> Flight<V> {
    /// A flight its creator is loading.
    pub(super) fn loading() -> Self {
        Self {
            state: Mutex::new(Inner {
                state: State::Loading,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the outcome (replacing `Loading`: nothing to drop) and wakes the waiters, if any.
    fn settle(&self, state: State<V>) {
        let mut inner = self.lock();
        inner.state = state;
        if inner.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// The value, once loaded.
    pub(super) fn value(&self) -> Option<Arc<V>> {
        match &self.lock().state {
            State::Ready(value) => Some(Arc::clone(value)),
            _ => None,
        }
    }

    /// True when the load neither succeeded nor is running: its loader panicked.
    pub(super) fn is_idle(&self) -> bool {
        matches!(&self.lock().state, State::Idle)
    }

    /// Waits for the load's outcome (or takes the load over, if its loader panicked).
    pub(super) fn join<E: Clone + 'static>(&self) -> Joined<V, E> {
        let mut inner = self.lock();
        loop {
            match &inner.state {
                State::Loading => {
                    inner.waiting += 1;
                    inner = self
                        .changed
                        .wait(inner)
                        .unwrap_or_else(PoisonError::into_inner);
                    inner.waiting -= 1;
                }
                State::Ready(value) => return Joined::Ready(Arc::clone(value)),
                State::Failed(error) => {
                    return match error.downcast_ref::<E>() {
                        Some(error) => Joined::Failed(error.clone()),
                        None => Joined::Retry,
                    };
                }
                State::Idle => {
                    inner.state = State::Loading;
                    return Joined::Load;
                }
            }
        }
    }

    /// Runs `load` as this flight's loader (the caller created the flight or was told to
    /// [`Joined::Load`]), records its outcome and wakes the callers waiting for it. If `load`
    /// panics, the flight becomes idle and a waiting caller, if any, loads instead.
    pub(super) fn run<E: Clone + Send + 'static>(
        &self,
        load: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E> {
        /// Leaves the flight idle if the loader unwinds.
        struct Abandon<'a, V: ?Sized>(&'a Flight<V>);
        impl<V: ?Sized> Drop for Abandon<'_, V> {
            fn drop(&mut self) {
                self.0.settle(State::Idle);
            }
        }
        let abandon = Abandon(self);
        let result = load();
        core::mem::forget(abandon);
        let outcome = match &result {
            Ok(value) => State::Ready(Arc::clone(value)),
            Err(error) => State::Failed(Box::new(error.clone())),
        };
        self.settle(outcome);
        result
    }
}
