//! Columns → Arrow arrays, one function per column kind. Full-width columns are handed over
//! without copying by the `into_*` functions (the `Vec` becomes the Arrow buffer) and with one
//! `memcpy` by the `to_*` ones; packed columns are decoded in one pass into the narrowest Arrow
//! integer type of their range.

use super::Error;
use crate::layout::{Bitmap, InternedStrs, PackedColumn, StrArena};
use arrow_array::types::{
    ArrowDictionaryKeyType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, DictionaryArray, FixedSizeBinaryArray,
    PrimitiveArray, StringArray,
};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// A full-width field type and its Arrow type: `Vec<Self>` columns become Arrow arrays.
///
/// Integers and floats map to the Arrow type of the same width and are shared without copying
/// by [`into_array`](Self::into_array); `usize`/`isize` become `UInt64`/`Int64`, `char`
/// `UInt32` (its scalar value), `u128`/`i128` `FixedSizeBinary(16)` (little-endian bytes).
///
/// ```
/// use keel_runtime::arrow::FullColumn;
/// use arrow_array::Array;
///
/// let values = vec![1u64, 2, 3];
/// let pointer = values.as_ptr();
/// let array = u64::into_array(values);
/// assert_eq!(array.to_data().buffers()[0].as_ptr(), pointer.cast());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no Arrow type in `keel::arrow`",
    note = "full-width Compact fields convert to Arrow when they are integers, floats, `char` or `bool`"
)]
pub trait FullColumn: Copy + Sized {
    /// The Arrow type of the column.
    fn data_type() -> DataType;
    /// The column as an Arrow array, copied.
    fn to_array(values: &[Self]) -> ArrayRef;
    /// The column as an Arrow array; for native types the `Vec` becomes the Arrow buffer.
    fn into_array(values: Vec<Self>) -> ArrayRef;
}

macro_rules! native_full {
    ($($ty:ty => $arrow:ty, $dt:ident;)*) => {$(
        impl FullColumn for $ty {
            fn data_type() -> DataType {
                DataType::$dt
            }
            fn to_array(values: &[Self]) -> ArrayRef {
                Arc::new(PrimitiveArray::<$arrow>::new(ScalarBuffer::from(values.to_vec()), None))
            }
            fn into_array(values: Vec<Self>) -> ArrayRef {
                Arc::new(PrimitiveArray::<$arrow>::new(ScalarBuffer::from(values), None))
            }
        }
    )*};
}

native_full! {
    u8 => UInt8Type, UInt8;
    u16 => UInt16Type, UInt16;
    u32 => UInt32Type, UInt32;
    u64 => UInt64Type, UInt64;
    i8 => Int8Type, Int8;
    i16 => Int16Type, Int16;
    i32 => Int32Type, Int32;
    i64 => Int64Type, Int64;
    f32 => arrow_array::types::Float32Type, Float32;
    f64 => arrow_array::types::Float64Type, Float64;
}

macro_rules! mapped_full {
    ($($ty:ty => $arrow:ty, $dt:ident, |$v:ident| $map:expr;)*) => {$(
        impl FullColumn for $ty {
            fn data_type() -> DataType {
                DataType::$dt
            }
            fn to_array(values: &[Self]) -> ArrayRef {
                let mapped: Vec<<$arrow as ArrowPrimitiveType>::Native> =
                    values.iter().map(|&$v| $map).collect();
                Arc::new(PrimitiveArray::<$arrow>::new(ScalarBuffer::from(mapped), None))
            }
            fn into_array(values: Vec<Self>) -> ArrayRef {
                Self::to_array(&values)
            }
        }
    )*};
}

mapped_full! {
    usize => UInt64Type, UInt64, |v| v as u64;
    isize => Int64Type, Int64, |v| v as i64;
    char => UInt32Type, UInt32, |v| u32::from(v);
}

macro_rules! wide_full {
    ($($ty:ty),*) => {$(
        impl FullColumn for $ty {
            fn data_type() -> DataType {
                DataType::FixedSizeBinary(16)
            }
            fn to_array(values: &[Self]) -> ArrayRef {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                Arc::new(FixedSizeBinaryArray::new(16, Buffer::from_vec(bytes), None))
            }
            fn into_array(values: Vec<Self>) -> ArrayRef {
                Self::to_array(&values)
            }
        }
    )*};
}

wide_full!(u128, i128);

/// Any integer as `i128` (the generated code's bounds, without a cast lint on `i128` itself).
pub trait AsI128: Copy {
    /// The value, widened.
    fn as_i128(self) -> i128;
}

macro_rules! as_i128 {
    ($($ty:ty),*) => {$(
        impl AsI128 for $ty {
            #[inline]
            fn as_i128(self) -> i128 {
                self as i128
            }
        }
    )*};
}

as_i128!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// The narrowest Arrow integer type holding every value of `lo..=hi`: unsigned when `lo >= 0`.
///
/// ```
/// use arrow_schema::DataType;
/// use keel_runtime::arrow::int_type;
///
/// assert_eq!(int_type(0, 100), DataType::UInt8);
/// assert_eq!(int_type(-50, 150), DataType::Int16);
/// assert_eq!(int_type(1, 65535), DataType::UInt16);
/// assert_eq!(int_type(-1, 1 << 40), DataType::Int64);
/// ```
pub fn int_type(lo: i128, hi: i128) -> DataType {
    let fits = |min: i128, max: i128| lo >= min && hi <= max;
    if lo >= 0 {
        if fits(0, u8::MAX.into()) {
            DataType::UInt8
        } else if fits(0, u16::MAX.into()) {
            DataType::UInt16
        } else if fits(0, u32::MAX.into()) {
            DataType::UInt32
        } else {
            DataType::UInt64
        }
    } else if fits(i8::MIN.into(), i8::MAX.into()) {
        DataType::Int8
    } else if fits(i16::MIN.into(), i16::MAX.into()) {
        DataType::Int16
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        DataType::Int32
    } else {
        DataType::Int64
    }
}

/// `keel.min` / `keel.max`: the declared range of a bounded field, in its Arrow field's
/// metadata.
///
/// ```
/// let metadata = keel_runtime::arrow::range_metadata(-50, 150);
/// assert_eq!(metadata["keel.min"], "-50");
/// assert_eq!(metadata["keel.max"], "150");
/// ```
pub fn range_metadata(lo: i128, hi: i128) -> HashMap<String, String> {
    HashMap::from([
        ("keel.min".to_owned(), lo.to_string()),
        ("keel.max".to_owned(), hi.to_string()),
    ])
}

/// The metadata of a bounded full-width field (a bounded float): `keel.min` / `keel.max` for
/// an included bound, `keel.min_exclusive` / `keel.max_exclusive` for an excluded one.
///
/// ```
/// use keel_runtime::Bounds;
///
/// let metadata = keel_runtime::arrow::bounds_metadata(&Bounds::half_open(0.0, 100.0));
/// assert_eq!(metadata["keel.min"], "0");
/// assert_eq!(metadata["keel.max_exclusive"], "100");
/// ```
pub fn bounds_metadata<T: core::fmt::Display>(
    bounds: &crate::bounds::Bounds<T>,
) -> HashMap<String, String> {
    use core::ops::Bound;
    let mut metadata = HashMap::new();
    for (bound, included, excluded) in [
        (bounds.lower(), "keel.min", "keel.min_exclusive"),
        (bounds.upper(), "keel.max", "keel.max_exclusive"),
    ] {
        match bound {
            Bound::Included(value) => metadata.insert(included.to_owned(), value.to_string()),
            Bound::Excluded(value) => metadata.insert(excluded.to_owned(), value.to_string()),
            Bound::Unbounded => None,
        };
    }
    metadata
}

fn primitive<T: ArrowPrimitiveType>(values: Vec<T::Native>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), None))
}

/// A packed integer column (offsets from `lo`), decoded in one pass into
/// [`int_type(lo, hi)`](int_type).
///
/// ```
/// use arrow_array::cast::AsArray;
/// use arrow_array::types::Int16Type;
/// use keel_runtime::layout::PackedColumn;
///
/// let mut celsius = PackedColumn::new(8);
/// for offset in [0, 71, 200] { celsius.push(offset); }
/// let array = keel_runtime::arrow::packed_to_array(&celsius, -50, 150);
/// assert_eq!(array.as_primitive::<Int16Type>().values(), &[-50, 21, 150]);
/// ```
pub fn packed_to_array(column: &PackedColumn, lo: i128, hi: i128) -> ArrayRef {
    packed_to_array_range(column, lo, hi, 0..column.len())
}

/// [`packed_to_array`] of the rows in `range` only.
pub fn packed_to_array_range(
    column: &PackedColumn,
    lo: i128,
    hi: i128,
    range: Range<usize>,
) -> ArrayRef {
    macro_rules! decode {
        ($arrow:ty, $native:ty) => {{
            let base = lo as $native;
            primitive::<$arrow>(
                column.map_collect_range(range, |code| base.wrapping_add(code as $native)),
            )
        }};
    }
    match int_type(lo, hi) {
        DataType::UInt8 => decode!(UInt8Type, u8),
        DataType::UInt16 => decode!(UInt16Type, u16),
        DataType::UInt32 => decode!(UInt32Type, u32),
        DataType::UInt64 => decode!(UInt64Type, u64),
        DataType::Int8 => decode!(Int8Type, i8),
        DataType::Int16 => decode!(Int16Type, i16),
        DataType::Int32 => decode!(Int32Type, i32),
        _ => decode!(Int64Type, i64),
    }
}

/// A float column stored as IEEE bits in a packed column (a float bounded newtype).
pub(crate) fn float_bits_to_array(
    column: &PackedColumn,
    bits: u32,
    range: Range<usize>,
) -> ArrayRef {
    if bits == 32 {
        primitive::<arrow_array::types::Float32Type>(
            column.map_collect_range(range, |code| f32::from_bits(code as u32)),
        )
    } else {
        primitive::<arrow_array::types::Float64Type>(
            column.map_collect_range(range, f64::from_bits),
        )
    }
}

/// A `bool` bitmap as a `BooleanArray`: its words copied with one `memcpy` (their bit order is
/// Arrow's on a little-endian machine).
///
/// ```
/// use arrow_array::Array;
/// use arrow_array::cast::AsArray;
/// use keel_runtime::layout::Bitmap;
///
/// let mut flags = Bitmap::new();
/// for on in [true, false, true] { flags.push(on); }
/// let array = keel_runtime::arrow::bitmap_to_array(&flags);
/// assert_eq!(array.as_boolean().iter().collect::<Vec<_>>(), [Some(true), Some(false), Some(true)]);
/// ```
pub fn bitmap_to_array(column: &Bitmap) -> ArrayRef {
    bitmap_to_array_range(column, 0..column.len())
}

/// [`bitmap_to_array`] of the rows in `range` only (one `memcpy` when it starts on a multiple
/// of 64, one pass otherwise).
///
/// # Panics
/// When `range` ends past the bitmap's length.
pub fn bitmap_to_array_range(column: &Bitmap, range: Range<usize>) -> ArrayRef {
    assert!(range.start <= range.end && range.end <= column.len());
    let len = range.end - range.start;
    let buffer = if cfg!(target_endian = "little") && range.start.is_multiple_of(64) {
        let first = range.start / 64;
        Buffer::from_slice_ref(&column.words()[first..first + len.div_ceil(64)])
    } else {
        BooleanBuffer::collect_bool(len, |i| column.get(range.start + i).unwrap_or(false))
            .into_inner()
    };
    Arc::new(BooleanArray::new(BooleanBuffer::new(buffer, 0, len), None))
}

/// [`bitmap_to_array`] without the copy: the bitmap's words become the Arrow buffer.
///
/// ```
/// use arrow_array::cast::AsArray;
/// use keel_runtime::layout::Bitmap;
///
/// let mut flags = Bitmap::new();
/// flags.push(true);
/// let array = keel_runtime::arrow::bitmap_into_array(flags);
/// assert!(array.as_boolean().value(0));
/// ```
pub fn bitmap_into_array(column: Bitmap) -> ArrayRef {
    if cfg!(target_endian = "big") {
        return bitmap_to_array(&column);
    }
    let len = column.len();
    let buffer = Buffer::from_vec(column.into_words());
    Arc::new(BooleanArray::new(BooleanBuffer::new(buffer, 0, len), None))
}

/// Fails when `text_len` bytes need offsets past `i32::MAX`.
pub(crate) fn check_text_len(column: &str, text_len: usize) -> Result<(), Error> {
    match i32::try_from(text_len) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::TextTooLong {
            column: column.to_owned(),
            bytes: text_len,
        }),
    }
}

/// Offsets from `ends`, each less `base` (the text before the first row).
fn offsets(
    column: &str,
    text_len: usize,
    ends: &[usize],
    base: usize,
) -> Result<OffsetBuffer<i32>, Error> {
    check_text_len(column, text_len)?;
    let mut offsets = Vec::with_capacity(ends.len() + 1);
    offsets.push(0i32);
    offsets.extend(ends.iter().map(|&end| (end - base) as i32));
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

fn string_array(
    column: &str,
    text: Buffer,
    ends: &[usize],
    base: usize,
) -> Result<StringArray, Error> {
    let offsets = offsets(column, text.len(), ends, base)?;
    Ok(StringArray::try_new(offsets, text, None)?)
}

/// An arena string column as a `StringArray`: one pass over the row ends for the 32-bit offsets,
/// one copy of the text.
///
/// ```
/// use arrow_array::cast::AsArray;
/// use keel_runtime::layout::StrArena;
///
/// let mut names = StrArena::new();
/// names.push("north");
/// names.push("south");
/// let array = keel_runtime::arrow::arena_to_array(&names, "name").unwrap();
/// assert_eq!(array.as_string::<i32>().value(1), "south");
/// ```
pub fn arena_to_array(column: &StrArena, name: &str) -> Result<ArrayRef, Error> {
    arena_to_array_range(column, name, 0..column.len())
}

/// [`arena_to_array`] of the rows in `range` only (their text copied, offsets rebased).
///
/// # Panics
/// When `range` ends past the arena's length.
pub fn arena_to_array_range(
    column: &StrArena,
    name: &str,
    range: Range<usize>,
) -> Result<ArrayRef, Error> {
    let ends = &column.ends()[range.clone()];
    let base = match range.start {
        0 => 0,
        start => column.ends()[start - 1],
    };
    let end = ends.last().copied().unwrap_or(base);
    let text = Buffer::from_slice_ref(&column.text().as_bytes()[base..end]);
    Ok(Arc::new(string_array(name, text, ends, base)?))
}

/// [`arena_to_array`] without copying the text: the arena's buffer becomes the Arrow values
/// buffer.
pub fn arena_into_array(column: StrArena, name: &str) -> Result<ArrayRef, Error> {
    let (text, ends) = column.into_parts();
    let text = Buffer::from_vec(text.into_bytes());
    Ok(Arc::new(string_array(name, text, &ends, 0)?))
}

/// A dictionary array whose keys are the packed `codes` and whose values are `values`.
fn dictionary<K: ArrowDictionaryKeyType>(
    codes: &PackedColumn,
    values: ArrayRef,
    range: Range<usize>,
) -> Result<ArrayRef, Error> {
    let keys = PrimitiveArray::<K>::new(
        ScalarBuffer::from(
            codes.map_collect_range(range, |code| K::Native::usize_as(code as usize)),
        ),
        None,
    );
    Ok(Arc::new(DictionaryArray::<K>::try_new(keys, values)?))
}

/// An interned string column as `Dictionary(Int32, Utf8)`: the keys are the row ids decoded in
/// one pass, the values the interner's strings (each distinct string once; no per-row copy).
///
/// ```
/// use arrow_array::cast::AsArray;
/// use arrow_array::types::Int32Type;
/// use keel_runtime::layout::InternedStrs;
///
/// let mut units = InternedStrs::new();
/// for unit in ["kg", "m", "kg"] { units.push(unit); }
/// let array = keel_runtime::arrow::interned_to_array(&units, "unit").unwrap();
/// let dictionary = array.as_dictionary::<Int32Type>();
/// assert_eq!(dictionary.keys().values(), &[0, 1, 0]);
/// assert_eq!(dictionary.values().len(), 2);
/// ```
pub fn interned_to_array(column: &InternedStrs, name: &str) -> Result<ArrayRef, Error> {
    interned_to_array_range(column, name, 0..column.len())
}

/// [`interned_to_array`] of the rows in `range` only (the keys of those rows, every distinct
/// string as the values).
///
/// # Panics
/// When `range` ends past the column's length.
pub fn interned_to_array_range(
    column: &InternedStrs,
    name: &str,
    range: Range<usize>,
) -> Result<ArrayRef, Error> {
    let strings = column.interner().strings();
    let values = string_array(
        name,
        Buffer::from_slice_ref(strings.text().as_bytes()),
        strings.ends(),
        0,
    )?;
    dictionary::<Int32Type>(column.ids(), Arc::new(values), range)
}

/// The Arrow type of an interned string column.
pub fn interned_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The dictionary key type of an enum of `variants` variants: the narrowest signed integer.
pub(crate) fn enum_key_type(variants: usize) -> DataType {
    if variants <= i8::MAX as usize + 1 {
        DataType::Int8
    } else if variants <= i16::MAX as usize + 1 {
        DataType::Int16
    } else {
        DataType::Int32
    }
}

/// An enum column: `Dictionary(<narrowest key>, Utf8)` over the variant names.
pub(crate) fn enum_to_array(
    indices: &PackedColumn,
    names: &[&str],
    range: Range<usize>,
) -> Result<ArrayRef, Error> {
    let values: ArrayRef = Arc::new(StringArray::from(names.to_vec()));
    match enum_key_type(names.len()) {
        DataType::Int8 => dictionary::<Int8Type>(indices, values, range),
        DataType::Int16 => dictionary::<Int16Type>(indices, values, range),
        _ => dictionary::<Int32Type>(indices, values, range),
    }
}
