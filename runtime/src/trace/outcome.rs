//! How generated code turns a return value into an [`Outcome`] without knowing its type.
//!
//! Autoref specialisation: `(&&&&OutcomeOf(&value)).keel_outcome()` picks the first applicable
//! impl: a `Result` whose error has `Display`, then `Debug`, then any `Result`, then anything
//! else (which counts as `Ok`). Not a public API.

use super::event::Outcome;
use core::fmt::{Debug, Display};

/// Wraps a borrowed return value for outcome detection.
pub struct OutcomeOf<'a, T: ?Sized>(pub &'a T);

/// A `Result` whose error has `Display`.
pub trait ErrDisplay {
    /// The outcome of the wrapped value.
    fn keel_outcome(&self) -> Outcome;
}

impl<T, E: Display> ErrDisplay for &&&OutcomeOf<'_, Result<T, E>> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Err(error.to_string()),
        }
    }
}

/// A `Result` whose error has `Debug` only.
pub trait ErrDebug {
    /// The outcome of the wrapped value.
    fn keel_outcome(&self) -> Outcome;
}

impl<T, E: Debug> ErrDebug for &&OutcomeOf<'_, Result<T, E>> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Err(format!("{error:?}")),
        }
    }
}

/// A `Result` whose error can not be printed: the text is the error type's name.
pub trait ErrOpaque {
    /// The outcome of the wrapped value.
    fn keel_outcome(&self) -> Outcome;
}

impl<T, E> ErrOpaque for &OutcomeOf<'_, Result<T, E>> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Err(core::any::type_name::<E>().to_owned()),
        }
    }
}

/// Anything that is not a `Result`: returning it is success.
pub trait NotResult {
    /// The outcome of the wrapped value.
    fn keel_outcome(&self) -> Outcome;
}

impl<T: ?Sized> NotResult for OutcomeOf<'_, T> {
    #[inline]
    fn keel_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// `#[keel::instrument(err)]`: a `Result` whose error has `Display`.
#[diagnostic::on_unimplemented(
    message = "`#[keel::instrument(err)]` needs a function returning `Result<_, E>` with `E: Display`, but it returns `{Self}`",
    label = "`err` needs a `Result` return type whose error implements `Display`",
    note = "write `err(Debug)` for an error type that only implements `Debug`"
)]
pub trait ResultWithDisplayError {
    /// `Ok`, or `Err` with the error's `Display` text.
    fn keel_err_outcome(&self) -> Outcome;
}

impl<T, E: Display> ResultWithDisplayError for Result<T, E> {
    #[inline]
    fn keel_err_outcome(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Err(error.to_string()),
        }
    }
}

/// `#[keel::instrument(err(Debug))]`: a `Result` whose error has `Debug`.
#[diagnostic::on_unimplemented(
    message = "`#[keel::instrument(err(Debug))]` needs a function returning `Result<_, E>` with `E: Debug`, but it returns `{Self}`",
    label = "`err(Debug)` needs a `Result` return type whose error implements `Debug`"
)]
pub trait ResultWithDebugError {
    /// `Ok`, or `Err` with the error's `Debug` text.
    fn keel_err_outcome(&self) -> Outcome;
}

impl<T, E: Debug> ResultWithDebugError for Result<T, E> {
    #[inline]
    fn keel_err_outcome(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Err(format!("{error:?}")),
        }
    }
}

/// The outcome of a function declared with `err`.
#[inline]
pub fn err_outcome_display<R: ResultWithDisplayError>(value: &R) -> Outcome {
    value.keel_err_outcome()
}

/// The outcome of a function declared with `err(Debug)`.
#[inline]
pub fn err_outcome_debug<R: ResultWithDebugError>(value: &R) -> Outcome {
    value.keel_err_outcome()
}

#[cfg(test)]
#[allow(clippy::needless_borrow)] // the borrows are the point: they pick the impl
mod tests {
    use super::*;

    struct Opaque;
    #[derive(Debug)]
    struct DebugOnly;

    fn generic<T>(value: &T) -> Outcome {
        #[allow(unused_imports)]
        use super::{ErrDebug as _, ErrDisplay as _, ErrOpaque as _, NotResult as _};
        (&&&&OutcomeOf(value)).keel_outcome()
    }

    #[test]
    fn picks_the_most_specific_form() {
        #[allow(unused_imports)]
        use super::{ErrDebug as _, ErrDisplay as _, ErrOpaque as _, NotResult as _};
        let display: Result<u8, String> = Err("bad".into());
        let debug: Result<u8, DebugOnly> = Err(DebugOnly);
        let opaque: Result<u8, Opaque> = Err(Opaque);
        let ok: Result<u8, String> = Ok(1);
        assert_eq!(
            (&&&&OutcomeOf(&display)).keel_outcome(),
            Outcome::Err("bad".into())
        );
        assert_eq!(
            (&&&&OutcomeOf(&debug)).keel_outcome(),
            Outcome::Err("DebugOnly".into())
        );
        assert!(
            matches!((&&&&OutcomeOf(&opaque)).keel_outcome(), Outcome::Err(t) if t.ends_with("Opaque"))
        );
        assert_eq!((&&&&OutcomeOf(&ok)).keel_outcome(), Outcome::Ok);
        assert_eq!((&&&&OutcomeOf(&5u32)).keel_outcome(), Outcome::Ok);
        // A type parameter is not known to be a Result: success.
        assert_eq!(generic(&display), Outcome::Ok);
    }
}
