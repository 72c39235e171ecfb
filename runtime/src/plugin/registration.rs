//! What `#[keel::plugin]` submits at link time, and how a plugin gets constructed. Not a public
//! API: generated code names these through `keel::__private::plugin`.

use std::any::{Any, TypeId};

use super::{Pluggable, PluginInfo};

/// The constructor a plugin registers: builds it from the registry's arguments. It returns the
/// bare `Box` (two registers), not a `Result`: an enum is returned through memory, and the
/// caller's read of it right after the callee's stores costs more than the call itself.
#[doc(hidden)]
pub type Constructor<T> = fn(<T as Pluggable>::Args) -> Box<T>;

/// One `#[keel::plugin]`, as submitted to the link-time list. Not a public API.
#[doc(hidden)]
pub struct Registration {
    pub(super) info: PluginInfo,
    pub(super) registry: fn() -> TypeId,
    pub(super) constructor: &'static (dyn Any + Send + Sync),
}

impl Registration {
    /// `constructor` must be a `&'static Constructor<T>` where `registry` returns
    /// `TypeId::of::<T>()`; a mismatched pair is ignored by every registry.
    pub const fn new(
        info: PluginInfo,
        registry: fn() -> TypeId,
        constructor: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self {
            info,
            registry,
            constructor,
        }
    }
}

inventory::collect!(Registration);

/// `TypeId::of::<T>()` as a function pointer that a `static` can hold.
#[doc(hidden)]
pub fn registry_id<T: ?Sized + 'static>() -> TypeId {
    TypeId::of::<T>()
}

/// Plugins of registries without `args` are built by `Default::default()`.
#[doc(hidden)]
pub struct ByDefault;

/// Plugins of registries with `args = A` are built by `From<A>`.
#[doc(hidden)]
pub struct ByFrom;

/// How a plugin without `new = path` is constructed, chosen by its registry's `How`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the plugin `{Self}` has no constructor",
    label = "a plugin without `new = ..` is built by `Default` (or by `From<args>` when its registry declares `args`)",
    note = "derive or implement it, or name a constructor with `#[keel::plugin(.., new = path)]`"
)]
pub trait Construct<A, How>: Sized {
    /// Builds the plugin.
    fn construct(args: A) -> Self;
}

impl<P: Default> Construct<(), ByDefault> for P {
    #[inline]
    fn construct((): ()) -> Self {
        P::default()
    }
}

impl<P: From<A>, A> Construct<A, ByFrom> for P {
    #[inline]
    fn construct(args: A) -> Self {
        P::from(args)
    }
}

/// A `new = path` constructor: `fn() -> P` for registries without `args`, `fn(A) -> P` with.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`new = ..` must name a function returning `{P}` that takes no arguments, or the registry's `args` when it declares them",
    label = "expected `fn() -> {P}` or `fn(args) -> {P}`"
)]
pub trait NewFn<A, P, How> {
    /// Calls the constructor.
    fn call(self, args: A) -> P;
}

impl<F: FnOnce() -> P, P> NewFn<(), P, ByDefault> for F {
    #[inline]
    fn call(self, (): ()) -> P {
        self()
    }
}

impl<F: FnOnce(A) -> P, A, P> NewFn<A, P, ByFrom> for F {
    #[inline]
    fn call(self, args: A) -> P {
        self(args)
    }
}

/// Calls a `new = path` constructor with the registry's arguments.
#[doc(hidden)]
#[inline]
pub fn construct_with<P, A, How, F: NewFn<A, P, How>>(new: F, args: A) -> P {
    new.call(args)
}
