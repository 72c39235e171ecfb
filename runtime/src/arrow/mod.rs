//! `#[derive(Compact)]` containers as Arrow data: a [`RecordBatch`] whose full-width columns are
//! the container's own buffers, Arrow IPC files and (feature `parquet`) Parquet files that
//! pyarrow, pandas, polars and DataFusion read.
//!
//! A `Compact` container already stores its rows by column, which is Arrow's layout; this module
//! hands each column over as the Arrow array of the same values:
//!
//! | field | column | Arrow |
//! |---|---|---|
//! | `u8`..`u64`, `i8`..`i64`, `f32`, `f64` | `Vec<T>` | the same primitive type, **not copied** by `into_record_batch` |
//! | `#[bounded(lo..=hi)]` / `#[compact(bits = N)]` integer | packed offsets | the narrowest integer type holding `lo..=hi` (one decoding pass), `keel.min`/`keel.max` in the field metadata |
//! | `bool` | bitmap | `Boolean`, the bitmap's words (same bit order), **not copied** by `into_record_batch` |
//! | `String` | one text arena | `Utf8` (text **not copied** by `into_record_batch`) |
//! | `#[compact(intern)] String` | ids into an interner | `Dictionary(Int32, Utf8)`: the interner's strings, each once |
//! | fieldless enum | packed variant index | `Dictionary(Int8, Utf8)` of the variant names |
//! | `#[derive(Bounded)]` newtype | packed offsets | like a bounded integer (a float newtype: its float type) |
//! | nested `Compact` struct | its own columns | `Struct` |
//! | `usize`/`isize`, `char`, `u128`/`i128` | `Vec<T>` | `UInt64`/`Int64`, `UInt32`, `FixedSizeBinary(16)` (copied) |
//!
//! With keel's `shm` feature, [`to_shm_ipc`](crate::layout::StructVec::to_shm_ipc) puts the
//! IPC file in a shared-memory segment that a Python process maps and reads with pyarrow in
//! place (`tests/python/arrow_shm.py`).
//!
//! Compact fields are never optional, so every Arrow field is non-nullable; reading a column
//! with a null is an error.
//!
//! **`to_record_batch(&self)` or `into_record_batch(self)`.** An Arrow buffer is immutable and
//! shared, a `Compact` column is growable and owned: both cannot hold one allocation at once.
//! `into_record_batch` gives the container up and moves every full-width `Vec`, the bitmaps'
//! words and the arenas' text into the batch (pointer-equal, no copy; `tests/arrow.rs` checks the
//! addresses); `to_record_batch` keeps the container and copies those buffers with one `memcpy`
//! each. Packed, interned and enum columns are decoded in one pass either way.
//!
//! ```
//! use arrow_array::cast::AsArray;
//! use arrow_array::types::{Int16Type, UInt64Type};
//! use keel::Compact;
//!
//! #[derive(Compact)]
//! struct Reading {
//!     timestamp: u64,
//!     #[bounded(-50..=150)]
//!     celsius: i16,
//!     #[compact(intern)]
//!     unit: String,
//! }
//!
//! let mut rows = ReadingVec::new();
//! rows.push(Reading { timestamp: 1, celsius: 21, unit: "°C".into() }).unwrap();
//! rows.push(Reading { timestamp: 2, celsius: -3, unit: "°C".into() }).unwrap();
//!
//! let schema = Reading::arrow_schema();
//! assert_eq!(schema.field(1).data_type(), &arrow_schema::DataType::Int16);
//! assert_eq!(schema.field(1).metadata()["keel.max"], "150");
//!
//! let column = rows.timestamp_column().as_ptr();
//! let batch = rows.into_record_batch().unwrap();
//! let timestamps = batch.column(0).as_primitive::<UInt64Type>();
//! assert_eq!(timestamps.values().as_ptr(), column); // the Vec became the Arrow buffer
//! assert_eq!(batch.column(1).as_primitive::<Int16Type>().values(), &[21, -3]);
//!
//! let back = ReadingVec::try_from_record_batch(&batch).unwrap();
//! assert_eq!(back.celsius(1), Some(-3));
//! ```

mod error;
mod from_arrow;
mod io;
#[cfg(test)]
mod tests;
mod to_arrow;

pub use error::Error;
pub use from_arrow::{Columns, FromArrow};
pub use to_arrow::{
    AsI128, FullColumn, arena_into_array, arena_to_array, arena_to_array_range, bitmap_into_array,
    bitmap_to_array, bitmap_to_array_range, bounds_metadata, int_type, interned_to_array,
    interned_to_array_range, interned_type, packed_to_array, packed_to_array_range, range_metadata,
};

use crate::layout::{ColumnSet, CompactEnum, CompactVec, EnumVec, NewtypeVec, StructVec};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// Rows per batch when [`StructVec::write_parquet`] converts and writes.
#[cfg(feature = "parquet")]
pub const PARQUET_CHUNK_ROWS: usize = 64 * 1024;

/// The Arrow half of a struct's generated column set: `#[derive(Compact)]` implements it for
/// `<Name>Columns` when keel's `arrow` feature is on, and [`StructVec`] builds every batch
/// method on it.
pub trait ArrowColumns: ColumnSet + Sized {
    /// One Arrow field per struct field, in declaration order.
    fn fields() -> Vec<Field>;
    /// Every column as an Arrow array, full-width buffers copied.
    fn to_arrays(&self) -> Result<Vec<ArrayRef>, Error>;
    /// Every column as an Arrow array, full-width buffers moved (not copied).
    fn into_arrays(self) -> Result<Vec<ArrayRef>, Error>;
    /// The rows in `range` of every column as Arrow arrays (copied).
    fn to_arrays_range(&self, range: Range<usize>) -> Result<Vec<ArrayRef>, Error>;
    /// The rows the columns hold, each value converted and type-checked (the container's own
    /// check runs when they are stored).
    fn rows_from_arrays(columns: &Columns<'_>) -> Result<Vec<Self::Row>, Error>;
}

/// A container that is an Arrow column of its own: what a nested `Compact` field (an enum, a
/// bounded newtype, a struct) turns into.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be converted to an Arrow column",
    note = "nested fields convert when they are fieldless enums, `#[derive(Bounded)]` newtypes or structs deriving `Compact`, with keel's `arrow` feature on"
)]
pub trait ArrowVec: CompactVec + Sized {
    /// The column's Arrow type.
    fn data_type() -> DataType;
    /// The column's field metadata (`keel.min` / `keel.max` of a bounded newtype).
    fn metadata() -> HashMap<String, String> {
        HashMap::new()
    }
    /// The column as an Arrow array (full-width buffers copied).
    fn to_array(&self) -> Result<ArrayRef, Error>;
    /// The column as an Arrow array (full-width buffers moved).
    fn into_array(self) -> Result<ArrayRef, Error> {
        self.to_array()
    }
    /// The rows in `range` as an Arrow array.
    fn to_array_range(&self, range: Range<usize>) -> Result<ArrayRef, Error>;
    /// The values of `array` (the column `column`) as rows, type-checked.
    fn rows_from_array(array: &dyn Array, column: &str) -> Result<Vec<Self::Row>, Error>;
}

/// A field of a nested container type.
#[doc(hidden)]
pub fn nested_field<V: ArrowVec>(name: &str) -> Field {
    Field::new(name, V::data_type(), false).with_metadata(V::metadata())
}

impl<E: CompactEnum> ArrowVec for EnumVec<E> {
    fn data_type() -> DataType {
        DataType::Dictionary(
            Box::new(to_arrow::enum_key_type(E::VARIANTS.len())),
            Box::new(DataType::Utf8),
        )
    }
    fn to_array(&self) -> Result<ArrayRef, Error> {
        self.to_array_range(0..self.len())
    }
    fn to_array_range(&self, range: Range<usize>) -> Result<ArrayRef, Error> {
        to_arrow::enum_to_array(self.indices(), E::VARIANTS, range)
    }
    fn rows_from_array(array: &dyn Array, column: &str) -> Result<Vec<E>, Error> {
        let mut rows = Vec::with_capacity(array.len());
        from_arrow::for_each_str(array, column, |row, text| {
            let index = E::VARIANTS.iter().position(|name| *name == text);
            match index.and_then(|index| E::from_index(index as u32)) {
                Some(value) => {
                    rows.push(value);
                    Ok(())
                }
                None => Err(Error::UnknownVariant {
                    column: column.to_owned(),
                    row,
                    value: text.to_owned(),
                    expected: E::VARIANTS,
                }),
            }
        })?;
        Ok(rows)
    }
}

/// How a `#[derive(Bounded)]` newtype's column codes read as Arrow values; the derive's
/// `Compact` impl implements it when keel's `arrow` feature is on.
pub trait ArrowNewtype: crate::layout::PackedNewtype {
    /// `Some((MIN, MAX))` for an integer newtype (codes are offsets from `MIN`), `None` for a
    /// float newtype (codes are its IEEE bits).
    const RANGE: Option<(i128, i128)>;
}

impl<T: ArrowNewtype> ArrowVec for NewtypeVec<T> {
    fn data_type() -> DataType {
        match T::RANGE {
            Some((lo, hi)) => int_type(lo, hi),
            None if T::BITS == 32 => DataType::Float32,
            None => DataType::Float64,
        }
    }
    fn metadata() -> HashMap<String, String> {
        match T::RANGE {
            Some((lo, hi)) => range_metadata(lo, hi),
            None => HashMap::new(),
        }
    }
    fn to_array(&self) -> Result<ArrayRef, Error> {
        self.to_array_range(0..self.len())
    }
    fn to_array_range(&self, range: Range<usize>) -> Result<ArrayRef, Error> {
        Ok(match T::RANGE {
            Some((lo, hi)) => to_arrow::packed_to_array_range(self.codes(), lo, hi, range),
            None => to_arrow::float_bits_to_array(self.codes(), T::BITS, range),
        })
    }
    fn rows_from_array(array: &dyn Array, column: &str) -> Result<Vec<T>, Error> {
        let codes: Vec<u64> = match T::RANGE {
            Some((lo, hi)) => {
                let values = i128::read(array, column)?;
                let mut codes = Vec::with_capacity(values.len());
                for (row, value) in values.into_iter().enumerate() {
                    if value < lo || value > hi {
                        return Err(Error::OutOfRange {
                            column: column.to_owned(),
                            row,
                            value: value.to_string(),
                            target: format!("{lo}..={hi}"),
                        });
                    }
                    codes.push((value - lo) as u64);
                }
                codes
            }
            None if T::BITS == 32 => f32::read(array, column)?
                .into_iter()
                .map(|v| u64::from(v.to_bits()))
                .collect(),
            None => f64::read(array, column)?
                .into_iter()
                .map(f64::to_bits)
                .collect(),
        };
        Ok(codes.into_iter().map(T::decode).collect())
    }
}

impl<C: ArrowColumns> ArrowVec for StructVec<C> {
    fn data_type() -> DataType {
        DataType::Struct(Fields::from(C::fields()))
    }
    fn to_array(&self) -> Result<ArrayRef, Error> {
        struct_array::<C>(self.columns().to_arrays()?, self.len())
    }
    fn into_array(self) -> Result<ArrayRef, Error> {
        let len = self.len();
        struct_array::<C>(self.into_columns().into_arrays()?, len)
    }
    fn to_array_range(&self, range: Range<usize>) -> Result<ArrayRef, Error> {
        let len = range.end - range.start;
        struct_array::<C>(self.columns().to_arrays_range(range)?, len)
    }
    fn rows_from_array(array: &dyn Array, column: &str) -> Result<Vec<C::Row>, Error> {
        from_arrow::no_nulls(array, column)?;
        let Some(array) = array.as_any().downcast_ref::<StructArray>() else {
            return Err(Error::WrongType {
                column: column.to_owned(),
                expected: "Struct",
                found: array.data_type().clone(),
            });
        };
        C::rows_from_arrays(&Columns::new(
            column,
            array.fields(),
            array.columns(),
            array.len(),
        ))
    }
}

fn struct_array<C: ArrowColumns>(arrays: Vec<ArrayRef>, len: usize) -> Result<ArrayRef, Error> {
    let fields = Fields::from(C::fields());
    Ok(Arc::new(if fields.is_empty() {
        StructArray::new_empty_fields(len, None)
    } else {
        StructArray::try_new(fields, arrays, None)?
    }))
}

/// The Arrow methods of every `#[derive(Compact)]` struct's container (`<Name>Vec`), with keel's
/// `arrow` feature on.
impl<C: ArrowColumns> StructVec<C> {
    /// The Arrow schema of the rows: one non-nullable field per struct field, the declared
    /// bounds in each bounded field's metadata (`keel.min`, `keel.max`). The same as the
    /// generated `<Name>::arrow_schema()`.
    pub fn arrow_schema() -> SchemaRef {
        Arc::new(Schema::new(C::fields()))
    }

    fn batch(arrays: Vec<ArrayRef>, len: usize) -> Result<RecordBatch, Error> {
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        Ok(RecordBatch::try_new_with_options(
            Self::arrow_schema(),
            arrays,
            &options,
        )?)
    }

    /// The rows as one Arrow `RecordBatch`, the container kept: full-width columns, bitmaps and
    /// text copied (one `memcpy` each), packed columns decoded in one pass. See
    /// [`into_record_batch`](Self::into_record_batch) for the zero-copy conversion.
    pub fn to_record_batch(&self) -> Result<RecordBatch, Error> {
        Self::batch(self.columns().to_arrays()?, self.len())
    }

    /// The rows as one Arrow `RecordBatch`, the container given up: every full-width `Vec`,
    /// every bitmap's words and every arena's text **become** the batch's buffers, without a
    /// copy (pointer-equal); packed columns are decoded in one pass.
    pub fn into_record_batch(self) -> Result<RecordBatch, Error> {
        let len = self.len();
        Self::batch(self.into_columns().into_arrays()?, len)
    }

    /// The rows in `range` as one `RecordBatch` (copied and decoded like
    /// [`to_record_batch`](Self::to_record_batch)).
    ///
    /// # Panics
    /// When `range` ends past `len()` or starts after it ends.
    pub fn to_record_batch_range(&self, range: Range<usize>) -> Result<RecordBatch, Error> {
        assert!(
            range.start <= range.end && range.end <= self.len(),
            "range {range:?} out of bounds for {} rows",
            self.len()
        );
        let len = range.end - range.start;
        Self::batch(self.columns().to_arrays_range(range)?, len)
    }

    /// The rows as batches of at most `max_rows` rows each, each converted on its own (so a
    /// writer can write one and drop it before the next is built); at least one batch, empty
    /// when the container is.
    ///
    /// # Panics
    /// When `max_rows` is 0.
    pub fn record_batches(
        &self,
        max_rows: usize,
    ) -> impl Iterator<Item = Result<RecordBatch, Error>> + '_ {
        assert!(max_rows > 0, "record_batches: max_rows must be at least 1");
        let len = self.len();
        let starts = (0..len.max(1)).step_by(max_rows);
        starts.map(move |start| self.to_record_batch_range(start..len.min(start + max_rows)))
    }

    /// A container holding the rows of `batch`, every value checked: a missing column, a wrong
    /// type, a null, a value that does not fit, or a row that the container's bounds reject is
    /// an error naming the column and the row, and nothing is returned.
    pub fn try_from_record_batch(batch: &RecordBatch) -> Result<Self, Error> {
        Self::try_from_record_batches([batch])
    }

    /// [`try_from_record_batch`](Self::try_from_record_batch) over several batches, rows
    /// numbered across them.
    pub fn try_from_record_batches<'a>(
        batches: impl IntoIterator<Item = &'a RecordBatch>,
    ) -> Result<Self, Error> {
        let mut out = Self::new();
        for batch in batches {
            let schema = batch.schema();
            let columns = Columns::new("", schema.fields(), batch.columns(), batch.num_rows());
            let rows = C::rows_from_arrays(&columns)?;
            out.reserve(rows.len());
            for row in rows {
                let index = out.len();
                out.push(row)
                    .map_err(|source| Error::Bounds { row: index, source })?;
            }
        }
        Ok(out)
    }
}
