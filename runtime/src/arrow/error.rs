//! The one error type of `keel::arrow`.

use crate::bounds::BoundsError;
use arrow_schema::DataType;
use std::path::PathBuf;

/// What can go wrong turning a `#[derive(Compact)]` container into Arrow data or back, or
/// writing and reading its files. Every message names the column and, for a value, its row.
///
/// ```
/// use keel_runtime::arrow::Error;
///
/// let error = Error::Null { column: "celsius".into(), row: 7 };
/// assert_eq!(error.to_string(), "column `celsius` row 7 is null: a Compact field has no null");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The batch has no column of a field's name.
    #[error("column `{column}` is missing: the batch has {found}")]
    MissingColumn {
        /// The field's column (`outer.inner` inside a struct column).
        column: String,
        /// The columns the batch has, comma-separated.
        found: String,
    },
    /// A column's Arrow type cannot hold the field's values.
    #[error("column `{column}` must be {expected}, got {found}")]
    WrongType {
        /// The column.
        column: String,
        /// What the field accepts.
        expected: &'static str,
        /// The column's type.
        found: DataType,
    },
    /// A null where the field has none (`#[derive(Compact)]` fields are never optional).
    #[error("column `{column}` row {row} is null: a Compact field has no null")]
    Null {
        /// The column.
        column: String,
        /// The first null row.
        row: usize,
    },
    /// A value that does not fit the field's type or its declared range.
    #[error("column `{column}` row {row}: {value} does not fit {target}")]
    OutOfRange {
        /// The column.
        column: String,
        /// The row.
        row: usize,
        /// The value, as text.
        value: String,
        /// The field's type or range (`u8`, `-50..=150`).
        target: String,
    },
    /// A text that names no variant of a fieldless enum.
    #[error("column `{column}` row {row}: `{value}` is not one of {expected:?}")]
    UnknownVariant {
        /// The column.
        column: String,
        /// The row.
        row: usize,
        /// The text found.
        value: String,
        /// The enum's variant names.
        expected: &'static [&'static str],
    },
    /// A row the container's own check rejected (a `#[bounded(..)]` range, a
    /// `#[compact(bits = N)]` width, a bounded newtype): the message names the field.
    #[error("row {row}: {source}")]
    Bounds {
        /// The row.
        row: usize,
        /// What the check said (`Reading.percent must be <= 100, got 250`).
        #[source]
        source: BoundsError,
    },
    /// A string column whose text is too long for an Arrow `Utf8` array (32-bit offsets).
    #[error(
        "column `{column}` holds {bytes} bytes of text; an Arrow Utf8 array holds at most 2147483647"
    )]
    TextTooLong {
        /// The column.
        column: String,
        /// Its text length.
        bytes: usize,
    },
    /// arrow-rs refused an array or a batch, or failed to write or read IPC.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The parquet crate failed to write or read a file.
    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A shared-memory segment could not be created or written.
    #[cfg(all(unix, feature = "shm"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "shm"))))]
    #[error(transparent)]
    Shm(#[from] crate::shm::ShmError),
    /// A file could not be created or opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
