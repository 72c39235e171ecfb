//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;
mod compact;

use proc_macro::TokenStream;

/// Derives a compile-time memory layout and a columnar container: Python's `__slots__`, taken
/// further.
///
/// On a struct with named fields it generates
///
/// * `Name::LAYOUT: keel::Layout`, a constant with the size, alignment, padding and, per field,
///   its offset (`offset_of!`), size, type and the bits it takes in a column
///   (`LAYOUT.packed_bits()`; `Display` prints a table);
/// * `NameVec`, a container that stores many rows by column: full-width numbers as `Vec<T>`
///   (`rows.value_column() -> &[f64]`), `#[bounded(lo..=hi)]` or `#[compact(bits = N)]` integers
///   bit-packed (as offsets from the lower bound), `bool` as a bitmap, `String` in one arena (no
///   allocation per row) or, with `#[compact(intern)]`, as ids into an interner, and fields whose
///   type derives `Compact` (fieldless enums in `ceil(log2(variants))` bits, structs flattened
///   into their own columns). Methods: `new`, `with_capacity`, `push`, `try_extend`, `get`,
///   `set`, `pop`, `swap_remove`, `truncate`, `clear`, `reserve`, `len`, `is_empty`, `iter`,
///   `memory_bytes`, `shrink_to_fit`, one getter per field (`rows.timestamp(7)`) and one column
///   view per field (`rows.timestamp_column()`), with the field's visibility; plus `Clone`,
///   `Debug`, `PartialEq`, `Default`, `Extend`, `FromIterator` and `IntoIterator for &NameVec`.
///
/// `push`/`set`/`try_extend` check every value against its range or bits first and return a
/// `keel::BoundsError` with nothing stored when one does not fit.
///
/// On a fieldless enum it generates `Name::LAYOUT`, `keel::layout::CompactEnum` and
/// `NameVec = keel::layout::EnumVec<Name>`.
///
/// Options: `#[compact(max_size = N)]` on the type makes `size_of::<Name>() > N` a compile error
/// that names the real size; `#[compact(crate = path)]` names the keel crate if renamed. On a
/// field: `#[compact(bits = N)]` for integers, `#[compact(intern)]` for `String`.
///
/// ```
/// use keel::Compact;
///
/// #[derive(Compact, Clone, Copy, Debug, PartialEq)]
/// pub enum Quality { Good, Suspect, Bad }
///
/// #[derive(Compact, Clone, Debug, PartialEq)]
/// #[compact(max_size = 48)]
/// pub struct SensorReading {
///     pub timestamp: u64,
///     #[bounded(-50..=150)]
///     pub celsius: i16,
///     pub value: f64,
///     #[compact(intern)]
///     pub unit: String,
///     pub active: bool,
///     pub quality: Quality,
/// }
///
/// let reading = |i: u64| SensorReading {
///     timestamp: 1_719_000_000 + i,
///     celsius: 21,
///     value: 42.5 + i as f64,
///     unit: "°C".into(),
///     active: i % 2 == 0,
///     quality: Quality::Good,
/// };
/// let mut rows = SensorReadingVec::new();
/// for i in 0..1000 {
///     rows.push(reading(i))?;
/// }
/// assert_eq!(rows.get(7), Some(reading(7)));
/// assert_eq!(rows.timestamp(7), Some(1_719_000_007));
/// assert_eq!(rows.value_column().iter().sum::<f64>(), 42.5 * 1000.0 + 499_500.0);
///
/// // Out of range: an error, and nothing stored.
/// let err = rows.push(SensorReading { celsius: 200, ..reading(0) }).unwrap_err();
/// assert_eq!(err.to_string(), "SensorReading.celsius must be <= 150, got 200");
/// assert_eq!(rows.len(), 1000);
///
/// // celsius takes 8 bits, active 1, quality 2, unit 0 (one distinct string so far).
/// assert_eq!(SensorReading::LAYOUT.packed_bits(), 64 + 8 + 64 + 0 + 1 + 2);
/// println!("{}", SensorReading::LAYOUT);
/// # Ok::<(), keel::BoundsError>(())
/// ```
#[proc_macro_derive(Compact, attributes(compact, bounded))]
pub fn derive_compact(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    compact::derive(input).into()
}
