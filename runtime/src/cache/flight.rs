//! `Flight`: one load of one key in progress, which every concurrent caller for the key joins.
//!
//! Threads wait for the outcome on a `Condvar` ([`Flight::join`]); async tasks register a waker
//! and are woken ([`Flight::join_async`]), so an awaiting caller blocks no thread. Both kinds of
//! caller read the same state through [`outcome`], and one [`Loader`] guard records the outcome
//! of a load however it was run, or leaves the flight idle if the load never finished (its
//! loader panicked, or its future was dropped), so that a waiting caller takes it over.

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The load of one key: the caller that started it runs its loader; the others wait here and
/// share its outcome.
pub(super) struct Flight<V: ?Sized> {
    state: Mutex<Inner<V>>,
    changed: Condvar,
}

/// The state, and who waits for it to change: a load nobody waits for wakes nobody (a
/// `notify_all` is a system call even with no waiter).
struct Inner<V: ?Sized> {
    state: State<V>,
    /// Threads blocked in [`Flight::join`].
    waiting: usize,
    /// Tasks pending in [`Flight::join_async`], each under its own id (a task polled again
    /// replaces its waker instead of adding one). Taken, and woken, when the state settles.
    wakers: Vec<(u64, Waker)>,
    /// The id the next awaiting task gets.
    next_waiter: u64,
}

enum State<V: ?Sized> {
    /// A caller is running its loader.
    Loading,
    /// The loader returned this value.
    Ready(Arc<V>),
    /// The loader failed with this error (an `E` of the loading call, type-erased): each caller
    /// that joined gets a clone.
    Failed(Box<dyn Any + Send>),
    /// Nobody is loading: the loader panicked, or its future was dropped before it finished.
    /// The next caller to join loads.
    Idle,
}

/// What a caller gets from [`Flight::join`] or [`Flight::join_async`].
pub(super) enum Joined<V: ?Sized, E> {
    /// The load succeeded.
    Ready(Arc<V>),
    /// The load failed with an error of this caller's type.
    Failed(E),
    /// The load was abandoned: this caller now runs its own loader, under a [`Loader`].
    Load,
    /// The load failed with an error of another type than this caller's (a fallible and an
    /// infallible load of one key): the caller looks the key up again.
    Retry,
}

/// The outcome a joining caller sees, `None` while the load runs. An abandoned (idle) load is
/// handed to this caller: the state becomes `Loading` again, on its behalf.
fn outcome<V: ?Sized, E: Clone + 'static>(inner: &mut Inner<V>) -> Option<Joined<V, E>> {
    match &inner.state {
        State::Loading => None,
        State::Ready(value) => Some(Joined::Ready(Arc::clone(value))),
        State::Failed(error) => Some(match error.downcast_ref::<E>() {
            Some(error) => Joined::Failed(error.clone()),
            None => Joined::Retry,
        }),
        State::Idle => {
            inner.state = State::Loading;
            Some(Joined::Load)
        }
    }
}

impl<V: ?Sized> Flight<V> {
    /// A flight its creator is loading.
    pub(super) fn loading() -> Self {
        Self {
            state: Mutex::new(Inner {
                state: State::Loading,
                waiting: 0,
                wakers: Vec::new(),
                next_waiter: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the outcome (replacing `Loading`: nothing to drop) and wakes the waiters, if any:
    /// threads through the condvar, tasks through their wakers (called after the lock is
    /// released, since a waker may run a task's poll inline).
    fn settle(&self, state: State<V>) {
        let wakers = {
            let mut inner = self.lock();
            inner.state = state;
            if inner.waiting > 0 {
                self.changed.notify_all();
            }
            core::mem::take(&mut inner.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// The value, once loaded.
    pub(super) fn value(&self) -> Option<Arc<V>> {
        match &self.lock().state {
            State::Ready(value) => Some(Arc::clone(value)),
            _ => None,
        }
    }

    /// True when the load neither succeeded nor is running: it was abandoned.
    pub(super) fn is_idle(&self) -> bool {
        matches!(&self.lock().state, State::Idle)
    }

    /// Blocks the thread until the load's outcome (or takes the load over, if it was
    /// abandoned).
    pub(super) fn join<E: Clone + 'static>(&self) -> Joined<V, E> {
        let mut inner = self.lock();
        loop {
            if let Some(joined) = outcome(&mut inner) {
                return joined;
            }
            inner.waiting += 1;
            inner = self
                .changed
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            inner.waiting -= 1;
        }
    }

    /// Awaits the load's outcome (or takes the load over, if it was abandoned) without blocking
    /// the thread: the task is woken when the outcome is set.
    pub(super) fn join_async<E: Clone + 'static>(&self) -> Join<'_, V, E> {
        Join {
            flight: self,
            id: None,
            error: PhantomData,
        }
    }

    /// The guard of the load this caller runs now (it created the flight, or was told to
    /// [`Joined::Load`]).
    pub(super) fn loader(&self) -> Loader<'_, V> {
        Loader(self)
    }
}

/// The future of [`Flight::join_async`].
pub(super) struct Join<'a, V: ?Sized, E> {
    flight: &'a Flight<V>,
    /// This task's entry among the flight's wakers, once it has one.
    id: Option<u64>,
    error: PhantomData<fn() -> E>,
}

impl<V: ?Sized, E: Clone + 'static> Future for Join<'_, V, E> {
    type Output = Joined<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.flight.lock();
        if let Some(joined) = outcome(&mut inner) {
            // Settling took the wakers; an entry remains only if another caller took an
            // abandoned load over before this task ran again.
            let stale = this.id.take().and_then(|id| take_waker(&mut inner, id));
            drop(inner);
            drop(stale);
            return Poll::Ready(joined);
        }
        let waker = cx.waker();
        let replaced = match this
            .id
            .and_then(|id| inner.wakers.iter_mut().find(|(w, _)| *w == id))
        {
            Some((_, registered)) if registered.will_wake(waker) => None,
            Some((_, registered)) => Some(core::mem::replace(registered, waker.clone())),
            None => {
                let id = inner.next_waiter;
                inner.next_waiter += 1;
                inner.wakers.push((id, waker.clone()));
                this.id = Some(id);
                None
            }
        };
        drop(inner);
        drop(replaced);
        Poll::Pending
    }
}

/// Removes the waker registered under `id`, if it is still there, for the caller to drop after
/// releasing the lock (dropping a waker is executor code).
fn take_waker<V: ?Sized>(inner: &mut Inner<V>, id: u64) -> Option<Waker> {
    let index = inner.wakers.iter().position(|(w, _)| *w == id)?;
    Some(inner.wakers.swap_remove(index).1)
}

impl<V: ?Sized, E> Drop for Join<'_, V, E> {
    /// A waiting task that is cancelled leaves the list (its waker would only be a wasted wake;
    /// the list stays as long as the live waiters).
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let waker = take_waker(&mut self.flight.lock(), id);
            drop(waker);
        }
    }
}

/// The load a caller is running. [`finish`](Loader::finish) records its outcome; dropped
/// without it (the loader panicked, or the future running it was dropped), it leaves the flight
/// idle and wakes the waiters, the first of which loads in its place.
pub(super) struct Loader<'a, V: ?Sized>(&'a Flight<V>);

impl<V: ?Sized> Loader<'_, V> {
    /// Records the load's outcome and wakes the callers waiting for it.
    pub(super) fn finish<E: Clone + Send + 'static>(self, result: &Result<Arc<V>, E>) {
        let outcome = match result {
            Ok(value) => State::Ready(Arc::clone(value)),
            Err(error) => State::Failed(Box::new(error.clone())),
        };
        let flight = self.0;
        core::mem::forget(self);
        flight.settle(outcome);
    }
}

impl<V: ?Sized> Drop for Loader<'_, V> {
    fn drop(&mut self) {
        self.0.settle(State::Idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wakers(flight: &Flight<u32>) -> usize {
        flight.lock().wakers.len()
    }

    #[test]
    fn a_waiting_task_registers_one_waker_and_is_woken_by_the_outcome() {
        let flight = Flight::<u32>::loading();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut join = flight.join_async::<()>();
        for _ in 0..3 {
            // Polled again (spuriously): the entry is reused, not repeated.
            assert!(Pin::new(&mut join).poll(&mut cx).is_pending());
            assert_eq!(wakers(&flight), 1);
        }
        flight.loader().finish::<()>(&Ok(Arc::new(7)));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(wakers(&flight), 0);
        match Pin::new(&mut join).poll(&mut cx) {
            Poll::Ready(Joined::Ready(value)) => assert_eq!(*value, 7),
            _ => panic!("expected the value"),
        }
    }

    #[test]
    fn a_cancelled_waiter_leaves_the_list_and_an_abandoned_load_is_handed_on() {
        let flight = Flight::<u32>::loading();
        let mut cx = Context::from_waker(Waker::noop());
        let mut gone = flight.join_async::<()>();
        let mut stays = flight.join_async::<()>();
        assert!(Pin::new(&mut gone).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut stays).poll(&mut cx).is_pending());
        drop(gone);
        assert_eq!(wakers(&flight), 1);
        // The loader's future is dropped: the remaining waiter takes the load over.
        drop(flight.loader());
        assert!(flight.is_idle());
        assert!(matches!(
            Pin::new(&mut stays).poll(&mut cx),
            Poll::Ready(Joined::Load)
        ));
        assert!(!flight.is_idle(), "loading again, for the waiter");
    }
}
