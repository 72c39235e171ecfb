//! The own contexts of tokio tasks spawned without keel (feature `tokio`).
//!
//! A task spawned with plain `tokio::spawn` runs on whichever worker polls it, and keel cannot
//! hook its polls, so the worker's thread-local context cannot be its context: what one task
//! set there would be seen by every task polled on that worker next, and stay behind when the
//! task moved to another worker. Instead, code running in a tokio task outside any context it
//! entered itself ([`Context::run`](super::Context::run), a [`Scoped`](super::Scoped) poll)
//! reads and writes the task's own context, kept here in a process-wide table keyed by
//! [`tokio::task::Id`]. A task without an entry sees an empty context, as a new Python task
//! created without a copied context would.
//!
//! An entry lives exactly as long as the tokens of the `set`s made in it (the only thing of the
//! task keel can see die with it: tokio drops the task's future, and the tokens it holds, when
//! the task completes or is aborted). Each live token is a frame here, in `set` order; ending a
//! frame (its token dropped or reset, in any order) makes the variable show its latest frame
//! still alive, or the value it had before its first, and the last frame to end removes the
//! entry. So a task's values never outlive its tokens, and out-of-order ends never leave a value
//! behind.

use super::map::{Value, Vars};
use super::next_context_id;
use ::tokio::task::Id;
use core::hash::BuildHasher;
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shards of the table: tasks on different workers rarely wait for one another's lock.
const SHARDS: usize = 16;

type Table = HashMap<Id, TaskContext, FixedState>;

static TABLE: [Mutex<Table>; SHARDS] =
    [const { Mutex::new(HashMap::with_hasher(FixedState::with_seed(0x6b65_656c))) }; SHARDS];

/// The shard that holds `task`'s entry, locked. No user code runs while it is held: values are
/// cloned (`Arc`s) or moved out under the lock and dropped after it.
#[inline]
fn shard(task: Id) -> MutexGuard<'static, Table> {
    let hash = FixedState::with_seed(0x7461_736b).hash_one(task);
    TABLE[(hash >> 32) as usize % SHARDS]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// One task's own context.
struct TaskContext {
    /// Its identity for token checks (as a thread's context has).
    id: u64,
    vars: Vars,
    /// The live `set`s, oldest first.
    frames: Vec<Frame>,
    next_frame: u64,
}

/// One live `set` in a task's context.
struct Frame {
    /// Its number in the task (kept by the token).
    seq: u64,
    var: usize,
    name: &'static str,
    /// What the variable shows when this frame ends, if no later frame of the variable is alive:
    /// the value of the previous live frame of the variable, or the one before its first.
    restore: Option<Value>,
}

/// What a [`Token`](super::Token) made in a task's context keeps to end its `set`.
#[derive(Clone, Copy, Debug)]
pub(super) struct TaskToken {
    pub(super) task: Id,
    seq: u64,
}

/// The value of variable `var` in `task`'s context (a clone of the `Arc`).
///
/// The functions called from the paths that also serve threads are kept out of line, so that
/// those paths stay as small as they were.
#[inline(never)]
pub(super) fn value(task: Id, var: usize) -> Option<Value> {
    shard(task)
        .get(&task)
        .and_then(|context| context.vars.get(var).cloned())
}

/// A snapshot of `task`'s values (one reference-count increment).
#[inline(never)]
pub(super) fn snapshot(task: Id) -> Vars {
    shard(task)
        .get(&task)
        .map_or(Vars::EMPTY, |context| context.vars.clone())
}

/// The identity of `task`'s context, 0 if it has none (nothing set in it is alive).
pub(super) fn context_id(task: Id) -> u64 {
    shard(task).get(&task).map_or(0, |context| context.id)
}

/// Sets `var` to `value` in `task`'s context (creating it), as a new frame. Returns the
/// context's identity, the frame's token and the value the variable had.
#[inline(never)]
pub(super) fn set<T: Send + Sync + 'static>(
    task: Id,
    var: usize,
    name: &'static str,
    value: T,
) -> (u64, TaskToken, Option<Value>) {
    let mut table = shard(task);
    let context = table.entry(task).or_insert_with(|| TaskContext {
        id: next_context_id(),
        vars: Vars::EMPTY,
        frames: Vec::new(),
        next_frame: 0,
    });
    let old = context.vars.insert_new(var, name, value);
    let seq = context.next_frame;
    context.next_frame += 1;
    context.frames.push(Frame {
        seq,
        var,
        name,
        restore: old.clone(),
    });
    (context.id, TaskToken { task, seq }, old)
}

/// Values taken out of the table under its lock, to drop after it (their `Drop` may use
/// contexts, and would otherwise deadlock on the shard).
#[must_use]
pub(super) struct Displaced {
    _value: Option<Value>,
    _context: Option<TaskContext>,
}

/// Ends the frame of `token`: the variable shows its latest live frame (or, if none is left,
/// the value it had before its first); the context goes when its last frame does.
#[inline(never)]
pub(super) fn end(token: TaskToken) -> Displaced {
    let mut table = shard(token.task);
    let mut displaced = Displaced {
        _value: None,
        _context: None,
    };
    let Some(context) = table.get_mut(&token.task) else {
        return displaced;
    };
    let Some(i) = context.frames.iter().rposition(|f| f.seq == token.seq) else {
        return displaced;
    };
    let frame = context.frames.remove(i);
    match context.frames[i..].iter_mut().find(|f| f.var == frame.var) {
        // A later set of the variable is alive and stays visible; when it ends, the variable
        // goes back to what this frame would have restored (this frame's value is gone).
        Some(later) => displaced._value = core::mem::replace(&mut later.restore, frame.restore),
        None => {
            displaced._value = match frame.restore {
                Some(old) => context.vars.insert(frame.var, frame.name, old),
                None => context.vars.remove(frame.var),
            }
        }
    }
    if context.frames.is_empty() {
        displaced._context = table.remove(&token.task);
    }
    displaced
}

/// How many tasks have a context of their own now (for tests).
pub(super) fn live() -> usize {
    TABLE
        .iter()
        .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::context::{Context, ContextError, ContextVar};

    static A: ContextVar<u32> = ContextVar::new("unit.task.a");
    static B: ContextVar<u32> = ContextVar::new("unit.task.b");

    /// Runs `body` as a plain tokio task on a current-thread runtime (tests of this module run in
    /// parallel, so each checks its own task's entry rather than the table's size).
    fn in_task<R: Send + 'static>(body: impl Future<Output = R> + Send + 'static) -> R {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { ::tokio::spawn(body).await.unwrap() })
    }

    fn has_entry() -> bool {
        super::context_id(::tokio::task::id()) != 0
    }

    #[test]
    fn a_task_starts_empty_and_its_entry_goes_with_its_last_token() {
        let _outside = A.set(100); // the thread's own context, not the task's
        in_task(async {
            assert_eq!(A.get(), None);
            assert!(Context::current().is_empty());
            let first = A.set(1);
            let second = B.set(2);
            assert_eq!((A.get(), B.get()), (Some(1), Some(2)));
            assert!(has_entry());
            drop(first);
            assert_eq!((A.get(), B.get()), (None, Some(2)));
            A.with(|a| assert_eq!(a, None));
            B.reset(second).unwrap();
            assert!(!has_entry(), "the last token removed the entry");
            assert!(Context::current().is_empty());
        });
        assert_eq!(A.get(), Some(100), "the thread's context is untouched");
    }

    #[test]
    fn out_of_order_ends_show_the_latest_live_set_and_leave_nothing() {
        in_task(async {
            let t1 = A.set(1);
            let t2 = A.set(2);
            let t3 = A.set(3);
            assert_eq!(t2.old_value(), Some(&1), "old_value is Python's");
            drop(t2); // the middle one: 3 stays visible
            assert_eq!(A.get(), Some(3));
            drop(t3); // back to the latest live set, 1 (not 2, whose token is gone)
            assert_eq!(A.get(), Some(1));
            let t4 = A.set(4);
            drop(t1); // the first, under a live later set
            assert_eq!(A.get(), Some(4));
            drop(t4);
            assert_eq!(A.get(), None, "nothing stale comes back");
            assert!(!has_entry());
        });
    }

    #[test]
    fn a_token_moved_out_of_its_task_ends_its_set_wherever_it_is_dropped() {
        let (token, id) = in_task(async {
            let token = A.set(7);
            (token, ::tokio::task::id())
        });
        assert_ne!(super::context_id(id), 0, "alive while its token is");
        // Reset outside the task: refused, and the token (dropped by the refusal) ends its set.
        let err = A.reset(token).unwrap_err();
        assert!(matches!(err, ContextError::WrongContext { .. }), "{err:?}");
        assert_eq!(super::context_id(id), 0);
        assert_eq!(A.get(), None);
    }

    #[test]
    fn a_context_entered_in_a_task_is_the_current_one_inside() {
        in_task(async {
            let _own = A.set(1);
            let mut ctx = Context::new();
            let inner = ctx.run(|| {
                assert_eq!(A.get(), None, "inside run: the entered context");
                let token = A.set(2);
                (A.get(), token)
            });
            assert_eq!(inner.0, Some(2));
            assert_eq!(A.get(), Some(1), "the task's own context again");
            // A thread-context token (made inside run) cannot reset the task's context.
            assert!(A.reset(inner.1).is_err());
            assert_eq!(ctx.get(&A), Some(2));
            let snapshot = Context::current();
            assert_eq!(snapshot.get(&A), Some(1));
        });
    }
}
