//! Audit hooks that see, and can veto, sensitive operations: Python's `sys.addaudithook`
//! (PEP 578).
//!
//! keel's own sensitive operations (creating shared memory, committing files, creating plugins,
//! beginning transactions, ...) call [`emit`] before they act. Every hook added with [`add_hook`]
//! sees the [`Event`]; the first hook that returns [`Denied`] stops the operation, which then
//! returns an error with nothing done. Applications emit their own events the same way.
//!
//! Hooks are process-wide and, as in Python, can never be removed: that is what makes them
//! useful for auditing. They run in the order they were added. Adding a hook is itself an
//! audited event (`audit.add_hook`), so an installed hook can refuse later ones.
//!
//! With no hook installed, [`emit`] costs one relaxed atomic load.
//!
//! ```
//! use keel_runtime::audit::{self, Denied};
//!
//! audit::add_hook(|event| {
//!     if event.name() == "doc.example.delete" {
//!         return Err(Denied::new("deleting is not allowed here"));
//!     }
//!     Ok(())
//! })
//! .unwrap();
//!
//! assert!(audit::emit("doc.example.read", &[("path", &"/tmp/x")]).is_ok());
//! let denied = audit::emit("doc.example.delete", &[("path", &"/tmp/x")]).unwrap_err();
//! assert_eq!(denied.reason(), "deleting is not allowed here");
//! assert_eq!(denied.event(), "doc.example.delete");
//! ```

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The type of an installed hook.
type Hook = Arc<dyn Fn(&Event<'_>) -> Result<(), Denied> + Send + Sync + 'static>;

/// True once any hook is installed; never goes back to false (hooks are irremovable).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The installed hooks. `emit` clones the `Arc` and runs the hooks outside the lock, so a hook
/// may itself emit events or add hooks without deadlocking.
static HOOKS: Mutex<Option<Arc<Vec<Hook>>>> = Mutex::new(None);

/// A hot path that, instead of calling [`is_active`] each time, keeps a state of its own that
/// says "no hook is installed" (a plugin registry's fast table, whose keys match only while it
/// is armed). [`bypass`] arms it unless a hook is already installed, and [`add_hook`] disarms
/// every armed one before it returns; hooks are irremovable, so nothing is armed again.
pub(crate) trait Bypass: Sync {
    /// Turns the fast path on: called at most once, by [`bypass`], with no hook installed.
    fn arm(&self);
    /// Turns it off for good: every operation then checks for hooks.
    fn disarm(&self);
}

/// The armed [`Bypass`]es; emptied when the first hook is installed.
static ARMED: Mutex<Vec<&'static dyn Bypass>> = Mutex::new(Vec::new());

/// Arms `path` if no hook is installed yet; it is disarmed when the first one is.
///
/// The check and the arming happen under the `ARMED` lock, and [`add_hook`] sets `ACTIVE`
/// before it takes that lock to disarm: either `path` is armed first and then disarmed, or it
/// sees `ACTIVE` and is never armed. Once the first `add_hook` has returned, no path is armed.
pub(crate) fn bypass(path: &'static dyn Bypass) {
    let mut armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
    if !ACTIVE.load(Ordering::Acquire) {
        path.arm();
        armed.push(path);
    }
}

/// One audited operation: a dotted name (`shm.create`) and its arguments, as Python's
/// `sys.audit` hooks see it. (Not `keel::trace::Event`, the entry or exit of a traced call:
/// the two modules name their events after what each observes; write them module-qualified,
/// `audit::Event` and `trace::Event`, where both are in use.)
///
/// ```
/// use keel_runtime::audit::Event;
/// let size = 4096usize;
/// let args: [(&str, &dyn std::fmt::Debug); 2] = [("name", &"psm_1234"), ("size", &size)];
/// let event = Event::new("shm.create", &args);
/// assert_eq!(event.name(), "shm.create");
/// assert_eq!(event.arg("size").map(|v| format!("{v:?}")), Some("4096".to_string()));
/// assert_eq!(event.to_string(), r#"shm.create(name="psm_1234", size=4096)"#);
/// ```
#[derive(Clone, Copy)]
pub struct Event<'a> {
    name: &'a str,
    args: &'a [(&'a str, &'a dyn fmt::Debug)],
}

impl<'a> Event<'a> {
    /// An event with a dotted name and named arguments.
    pub fn new(name: &'a str, args: &'a [(&'a str, &'a dyn fmt::Debug)]) -> Self {
        Self { name, args }
    }

    /// The dotted event name, such as `"shm.create"` or `"app.login"`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The arguments, in the order the emitter gave them.
    pub fn args(&self) -> &'a [(&'a str, &'a dyn fmt::Debug)] {
        self.args
    }

    /// The argument called `key`, if present.
    pub fn arg(&self, key: &str) -> Option<&'a dyn fmt::Debug> {
        self.args.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_struct("Event");
        map.field("name", &self.name);
        for (k, v) in self.args {
            map.field(k, v);
        }
        map.finish()
    }
}

impl fmt::Display for Event<'_> {
    /// `name(key=value, ...)`, values in their `Debug` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, (k, v)) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str(")")
    }
}

/// A hook's veto: the operation being audited does not happen.
///
/// A hook returns `Err(Denied::new(reason))`; [`emit`] fills in the event's name, so the error
/// the caller sees says both what was refused and why.
///
/// `Denied` is one pointer wide, so `Result<(), Denied>` (what [`emit`] returns) is a single
/// machine word and checking it costs nothing on the path where no hook objects.
///
/// ```
/// use keel_runtime::audit::Denied;
/// let d = Denied::new("read-only mode");
/// assert_eq!(d.reason(), "read-only mode");
/// assert_eq!(size_of::<Result<(), Denied>>(), size_of::<usize>());
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit hook denied `{}`: {}", .0.event, .0.reason)]
pub struct Denied(Box<Refusal>);

/// What a [`Denied`] carries, boxed so the error stays one pointer wide.
#[derive(Clone, PartialEq, Eq)]
struct Refusal {
    event: String,
    reason: String,
}

impl fmt::Debug for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Denied")
            .field("event", &self.0.event)
            .field("reason", &self.0.reason)
            .finish()
    }
}

impl Denied {
    /// A veto with a human-readable reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(Box::new(Refusal {
            event: String::new(),
            reason: reason.into(),
        }))
    }

    /// Why the hook refused.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The name of the event that was refused (filled in by [`emit`]).
    pub fn event(&self) -> &str {
        &self.0.event
    }
}

/// Installs a hook that sees every audit event from now on. Hooks cannot be removed.
///
/// Adding a hook is itself audited: the already-installed hooks see an `audit.add_hook` event and
/// may deny it, in which case the new hook is not installed and the denial is returned.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
/// keel_runtime::audit::add_hook(|e| {
///     if e.name() == "doc.add_hook.counted" {
///         SEEN.fetch_add(1, Ordering::Relaxed);
///     }
///     Ok(())
/// })
/// .unwrap();
/// keel_runtime::audit::emit("doc.add_hook.counted", &[]).unwrap();
/// assert_eq!(SEEN.load(Ordering::Relaxed), 1);
/// ```
pub fn add_hook<F>(hook: F) -> Result<(), Denied>
where
    F: Fn(&Event<'_>) -> Result<(), Denied> + Send + Sync + 'static,
{
    let type_name = core::any::type_name::<F>();
    emit("audit.add_hook", &[("hook", &type_name)])?;
    let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
    let list = hooks.get_or_insert_with(|| Arc::new(Vec::new()));
    Arc::make_mut(list).push(Arc::new(hook));
    ACTIVE.store(true, Ordering::Release);
    drop(hooks);
    let armed = std::mem::take(&mut *ARMED.lock().unwrap_or_else(PoisonError::into_inner));
    for path in armed {
        path.disarm();
    }
    Ok(())
}

/// Raises an audit event; returns the first hook's denial, if any.
///
/// Call it *before* doing the sensitive thing, and do nothing when it returns `Err`.
/// With no hook installed this is one atomic load.
///
/// ```
/// fn delete_account(id: u64) -> Result<(), keel_runtime::audit::Denied> {
///     keel_runtime::audit::emit("app.delete_account", &[("id", &id)])?;
///     // ... the deletion itself ...
///     Ok(())
/// }
/// assert!(delete_account(7).is_ok());
/// keel_runtime::audit::emit("app.login", &[]).unwrap();
/// ```
#[inline]
pub fn emit(name: &str, args: &[(&str, &dyn fmt::Debug)]) -> Result<(), Denied> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return Ok(());
    }
    dispatch(&Event::new(name, args))
}

/// True when at least one hook is installed (so emitting has a cost worth avoiding when
/// building the arguments is expensive).
///
/// ```
/// if keel_runtime::audit::is_active() {
///     // build expensive arguments only now
/// }
/// ```
#[inline]
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

#[cold]
#[inline(never)]
fn dispatch(event: &Event<'_>) -> Result<(), Denied> {
    let hooks = {
        let guard = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(hooks) => Arc::clone(hooks),
            None => return Ok(()),
        }
    };
    for hook in hooks.iter() {
        if let Err(mut denied) = hook(event) {
            denied.0.event = event.name().to_owned();
            return Err(denied);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    // Hooks are process-wide; each test only reacts to its own event names.

    #[test]
    fn first_denial_stops_the_rest_in_registration_order() {
        static ORDER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
        add_hook(|e| {
            if e.name().starts_with("unit.order.") {
                ORDER.lock().unwrap().push(1);
            }
            Ok(())
        })
        .unwrap();
        add_hook(|e| {
            if e.name() == "unit.order.deny" {
                ORDER.lock().unwrap().push(2);
                return Err(Denied::new("no"));
            }
            Ok(())
        })
        .unwrap();
        add_hook(|e| {
            if e.name().starts_with("unit.order.") {
                ORDER.lock().unwrap().push(3);
            }
            Ok(())
        })
        .unwrap();
        emit("unit.order.allow", &[]).unwrap();
        let err = emit("unit.order.deny", &[("x", &1)]).unwrap_err();
        assert_eq!(err.event(), "unit.order.deny");
        assert_eq!(err.to_string(), "audit hook denied `unit.order.deny`: no");
        assert_eq!(*ORDER.lock().unwrap(), vec![1, 3, 1, 2]);
    }

    #[test]
    fn a_hook_may_emit_and_add_hooks_without_deadlock() {
        static NESTED: AtomicUsize = AtomicUsize::new(0);
        add_hook(|e| {
            if e.name() == "unit.reentrant.outer" {
                emit("unit.reentrant.inner", &[])?;
                add_hook(|_| Ok(()))?;
            }
            if e.name() == "unit.reentrant.inner" {
                NESTED.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .unwrap();
        emit("unit.reentrant.outer", &[]).unwrap();
        assert_eq!(NESTED.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn adding_a_hook_is_audited_and_can_be_denied() {
        static SAW: AtomicUsize = AtomicUsize::new(0);
        add_hook(|e| {
            if e.name() == "audit.add_hook" {
                let hook = format!("{:?}", e.arg("hook").unwrap());
                SAW.fetch_add(1, Ordering::SeqCst);
                if hook.contains("refused_hook_marker") {
                    return Err(Denied::new("hook refused"));
                }
            }
            Ok(())
        })
        .unwrap();
        fn refused_hook_marker(_: &Event<'_>) -> Result<(), Denied> {
            Err(Denied::new("must never be installed"))
        }
        let before = SAW.load(Ordering::SeqCst);
        let err = add_hook(refused_hook_marker).unwrap_err();
        assert_eq!(err.event(), "audit.add_hook");
        assert!(SAW.load(Ordering::SeqCst) > before);
        // The refused hook was not installed: it would deny every event.
        emit("unit.after_refused", &[]).unwrap();
    }
}
