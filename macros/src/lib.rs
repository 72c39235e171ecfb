//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;

mod bounded;

use proc_macro::TokenStream;

/// Range-checked struct fields and bounded newtypes: Python's reusable `Bounded(min, max)`
/// descriptor, with the checks written as plain inline comparisons.
///
/// Put `#[bounded(range)]` on the fields to check. The struct gets a checked constructor,
/// a getter and a setter per bounded field, and the bounds themselves as constants:
///
/// ```
/// use keel::Bounded;
/// use std::ops::RangeBounds;
///
/// #[derive(Bounded, Debug)]
/// pub struct NetworkConfig {
///     #[bounded(1..=65535)] port: u32,
///     #[bounded(0..=300)]   timeout: u32,
///     #[bounded(..=50)]     max_retries: u8,
///     name: String, // unbounded: passed through untouched
/// }
///
/// # fn main() -> Result<(), keel::BoundsError> {
/// let mut cfg = NetworkConfig::try_new(8080, 30, 3, "edge".into())?;
/// let err = cfg.set_port(99999).unwrap_err();
/// assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
/// assert_eq!(cfg.port(), 8080); // a rejected value changes nothing
/// cfg.set_port(443)?;
/// assert!(NetworkConfig::TIMEOUT_BOUNDS.contains(&300));
///
/// const DEFAULT: NetworkConfig = NetworkConfig::new_const(80, 30, 3, String::new());
/// assert_eq!(DEFAULT.port(), 80);
/// # Ok(()) }
/// ```
///
/// # What a struct gets
///
/// Every item has the struct's visibility.
///
/// * `try_new(<every field, in order>) -> Result<Self, keel::BoundsError>`: checks the bounded
///   fields in declaration order and returns the first violation.
/// * For each bounded field `x: T`: `x(&self) -> T` (a `const fn`), `set_x(&mut self, T) ->
///   Result<(), keel::BoundsError>` which leaves `x` unchanged on error, and
///   `X_BOUNDS: keel::Bounds<T>` (it implements [`RangeBounds`](core::ops::RangeBounds) and
///   prints as the range).
/// * `validate(&self) -> Result<(), keel::BoundsError>`: checks every bounded field again, for
///   code in the defining module that wrote a field directly.
/// * When every bounded field is a primitive number (`u8` ... `u128`, `i8` ... `i128`, `usize`,
///   `isize`, `f32`, `f64`): `const fn new_const(<every field>) -> Self`, which panics on a
///   value out of bounds, so a bad value in a `const` is a compile error:
///
/// ```compile_fail,E0080
/// #[derive(keel::Bounded)]
/// pub struct Retry {
///     #[bounded(..=50)] attempts: u8,
/// }
/// const TOO_MANY: Retry = Retry::new_const(99); // error: Retry::new_const: attempts must be in ..=50
/// ```
///
/// Keep the bounded fields private: then the setters and `try_new` are the only way in from
/// other modules, and every value a reader sees lies within its bounds.
///
/// # Ranges
///
/// Rust's own range syntax: `a..=b`, `a..b`, `a..`, `..=b`, `..b`. The bounds are constant
/// expressions of the field's type: literals, `-5`, `0.0`, `i64::MAX`, your own `const`s, or a
/// `const`-constructible value of any `Copy + PartialOrd + Debug` type. A NaN is always rejected,
/// with `got NaN`, whatever the range:
///
/// ```
/// # use keel::Bounded;
/// const MAX_TEMP: f64 = 150.0;
///
/// #[derive(Bounded, Debug)]
/// struct Sensor {
///     #[bounded(-50.0..=MAX_TEMP)] celsius: f64,
///     #[bounded(i64::MIN..=-5)]    offset: i64,
/// }
///
/// let mut s = Sensor::try_new(20.0, -10).unwrap();
/// assert_eq!(
///     s.set_celsius(f64::NAN).unwrap_err().to_string(),
///     "Sensor.celsius must be in -50.0..=150.0, got NaN",
/// );
/// assert_eq!(s.set_offset(0).unwrap_err().to_string(), "Sensor.offset must be <= -5, got 0");
/// ```
///
/// Literal bounds are checked when compiling: an empty range (`10..=5`, `5..5`), a float bound
/// on an integer field, an integer bound on a float field, a literal that does not fit the type
/// (`..=300` on a `u8`) and a differently typed literal (`5u16`, `i64::MAX` on a `u32`) are
/// errors pointing at the bound.
///
/// # Newtypes
///
/// On a single-field tuple struct the range goes on the struct (or on its one field), and the
/// type carries its bounds wherever it is used:
///
/// ```
/// # use keel::Bounded;
/// #[derive(Bounded, Clone, Copy, Debug, PartialEq)]
/// #[bounded(1..=65535)]
/// pub struct Port(u16);
///
/// let port = Port::try_new(8080).unwrap();
/// assert_eq!(port.get(), 8080);
/// assert_eq!(u16::from(port), 8080);
/// assert_eq!(Port::try_new(0).unwrap_err().to_string(), "Port must be in 1..=65535, got 0");
/// assert_eq!(Port::try_from(443), Ok(Port::new_const(443)));
/// assert_eq!((Port::MIN.get(), Port::MAX.get()), (1, 65535));
/// assert_eq!(Port::BOUNDS.to_string(), "1..=65535");
///
/// // A field of type `Port` needs no attribute: a `Port` is always in bounds.
/// #[derive(Bounded, Debug)]
/// struct Listener {
///     port: Port,
///     #[bounded(1..=1024)] backlog: u16,
/// }
/// const HTTP: Listener = Listener::new_const(Port::new_const(80), 128);
/// # assert_eq!(HTTP.port.get(), 80);
/// ```
///
/// A newtype gets `try_new`, `get(self)`, `BOUNDS`, `TryFrom<T>`, `From<Self> for T`, and for a
/// primitive `T` also `const fn new_const`. `MIN` and `MAX` (of type `Self`) exist where the
/// extreme value is exact: a written lower bound or inclusive upper bound, the integer type's
/// own limit for an open side, `hi - 1` for an integer `..hi`, and ±infinity for an open float
/// side (a float `..hi` has no `MAX`).
///
/// With keel's `serde` feature, a newtype over a primitive number is `Serialize` as the bare
/// number and `Deserialize` through `try_new`, failing with the `BoundsError` message
/// (`Port must be in 1..=65535, got 0`). Your crate needs no feature of its own for this. For a
/// newtype over your own type, derive serde's traits with
/// `#[serde(try_from = "Inner", into = "Inner")]`, which use the generated conversions.
///
/// # Tuple structs and generics
///
/// A tuple struct with several fields bounds them one by one: `get_0()`, `set_0(..)`,
/// `BOUNDS_0`, and messages say `Rgb.0 must be <= 255, got 256`. It must bound at least one
/// field. A generic struct works as long as no bounded field's type involves a type or const
/// parameter (bounds are constants of one concrete type); a bounded field of type `T`, and a
/// generic newtype, are compile errors.
///
/// # `crate = path`
///
/// Generated code reaches keel as `::keel`. When the dependency has another name, say so on the
/// struct, as a path or a string: `#[bounded(crate = my_keel)]`, or for a newtype
/// `#[bounded(1..=9, crate = "my_keel")]`.
///
/// ```
/// extern crate keel as my_keel;
///
/// #[derive(my_keel::Bounded)]
/// #[bounded(crate = my_keel)]
/// struct Timeout {
///     #[bounded(1..=60)] secs: u8,
/// }
/// # fn main() {
/// assert!(Timeout::try_new(61).is_err());
/// # }
/// ```
///
/// # Cost
///
/// A setter is one or two comparisons against constants and a store; building the error is an
/// out-of-line `#[cold]` call, so `set_port` compiles to the same instructions as the
/// hand-written `if` (see BENCHMARKS.md).
#[proc_macro_derive(Bounded, attributes(bounded))]
pub fn derive_bounded(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    bounded::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
