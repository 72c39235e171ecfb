//! Structs as columns: [`StructVec`], the one container every `#[derive(Compact)]` struct gets,
//! over the [`ColumnSet`] the derive generates for it.
//!
//! The derive writes only what differs from struct to struct: a `<Name>Columns` type with one
//! column per field, how a row is split into those columns and put back together, and one
//! reader per field. Everything a container does with rows (length, bounds-checked writes that
//! store nothing on error, rollback of a failed `try_extend`, iteration, `Debug`, equality) is
//! written once, here.

use super::{Column, CompactVec, Rows};
use crate::bounds::BoundsError;
use core::fmt;
use core::ops::Deref;

/// The columns of one struct type: what `#[derive(Compact)]` generates as `<Name>Columns`.
///
/// Every method addresses rows by index and may assume what [`StructVec`] guarantees: every
/// column holds the same number of values, `set` gets an index below that number, and
/// `push`/`set` get rows that passed [`check`](Self::check). The row-independent operations come
/// from [`Column`], which a column set implements by applying each to every one of its columns.
///
/// A column set written by hand (the derive does the same per field):
///
/// ```
/// use keel_runtime::bounds::BoundsError;
/// use keel_runtime::layout::{Bitmap, Column, ColumnSet, StructVec};
/// use std::fmt;
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Point { x: u32, on: bool }
///
/// #[derive(Clone)]
/// struct PointColumns { x: Vec<u32>, on: Bitmap }
///
/// impl Column for PointColumns {
///     fn swap_remove(&mut self, i: usize) { Column::swap_remove(&mut self.x, i); Column::swap_remove(&mut self.on, i) }
///     fn truncate(&mut self, len: usize) { Column::truncate(&mut self.x, len); Column::truncate(&mut self.on, len) }
///     fn clear(&mut self) { Column::clear(&mut self.x); Column::clear(&mut self.on) }
///     fn reserve(&mut self, n: usize) { Column::reserve(&mut self.x, n); Column::reserve(&mut self.on, n) }
///     fn shrink_to_fit(&mut self) { Column::shrink_to_fit(&mut self.x); Column::shrink_to_fit(&mut self.on) }
///     fn memory_bytes(&self) -> usize { Column::memory_bytes(&self.x) + Column::memory_bytes(&self.on) }
///     fn eq_at(&self, i: usize, other: &Self, j: usize) -> bool {
///         self.x.eq_at(i, &other.x, j) && self.on.eq_at(i, &other.on, j)
///     }
/// }
///
/// impl ColumnSet for PointColumns {
///     type Row = Point;
///     fn new() -> Self { Self { x: Vec::new(), on: Bitmap::new() } }
///     fn check(&self, _row: &Point) -> Result<(), BoundsError> { Ok(()) }
///     fn push(&mut self, row: Point) { self.x.push(row.x); self.on.push(row.on) }
///     fn set(&mut self, i: usize, row: Point) { self.x[i] = row.x; self.on.set(i, row.on) }
///     fn get(&self, i: usize) -> Option<Point> {
///         Some(Point { x: *self.x.get(i)?, on: self.on.get(i)? })
///     }
///     fn fmt_row(&self, i: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.debug_struct("Point").field("x", &self.x[i]).field("on", &self.on.get(i)).finish()
///     }
/// }
///
/// let mut points = StructVec::<PointColumns>::new();
/// points.push(Point { x: 7, on: true }).unwrap();
/// assert_eq!(points.get(0), Some(Point { x: 7, on: true }));
/// assert_eq!(points.x, [7]); // the column set is reachable through `Deref`
/// assert_eq!(format!("{points:?}"), "[Point { x: 7, on: Some(true) }]");
/// ```
pub trait ColumnSet: Column {
    /// The row type (the struct that derives `Compact`).
    type Row;
    /// One empty column per field (allocates nothing).
    fn new() -> Self;
    /// Checks `row` against every field's `#[bounded(..)]` range and `#[compact(bits = N)]`
    /// width, storing nothing.
    fn check(&self, row: &Self::Row) -> Result<(), BoundsError>;
    /// Appends a checked row to every column.
    fn push(&mut self, row: Self::Row);
    /// Overwrites row `index` (below the length) with a checked row.
    fn set(&mut self, index: usize, row: Self::Row);
    /// Row `index`, decoded, or `None` when `index` is past the end.
    fn get(&self, index: usize) -> Option<Self::Row>;
    /// Decodes row `index` into `row`, reusing what `row` owns (a `String` field keeps its
    /// buffer); `None` past the end. The provided method assigns a fresh [`get`](Self::get).
    #[inline]
    fn get_into(&self, index: usize, row: &mut Self::Row) -> Option<()> {
        *row = self.get(index)?;
        Some(())
    }
    /// Writes row `index` (below the length) in `Debug` form.
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Many rows of a struct stored by column: the `<Name>Vec` of a struct deriving `Compact`
/// (`pub type <Name>Vec = StructVec<<Name>Columns>;`).
///
/// Full-width numbers are plain `Vec`s, bounded or `bits = N` integers are bit-packed, `bool`s
/// are a [`Bitmap`](super::Bitmap), strings live in one [`StrArena`](super::StrArena) or an
/// [`InternedStrs`](super::InternedStrs), nested `Compact` types keep their own containers.
///
/// Writes are all-or-nothing: a row with a value out of its `#[bounded(..)]` range or
/// `#[compact(bits = N)]` width is refused with a [`BoundsError`] and no column changes.
///
/// The generated `<Name>Columns` is reachable through [`Deref`]: it holds the per-field
/// readers, `rows.celsius(i)` (one field of one row, decoded) and `rows.celsius_column()` (the
/// whole column: a slice for full-width numbers). Only shared access is given out, so the
/// columns can never disagree on the number of rows.
///
/// ```
/// use keel_runtime::layout::StructVec;
/// use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
///
/// let mut rows: StructVec<ReadingColumns> = StructVec::new();
/// rows.push(Reading { id: 1, percent: 40 }).unwrap();
/// rows.push(Reading { id: 2, percent: 99 }).unwrap();
/// assert!(rows.push(Reading { id: 3, percent: 101 }).is_err()); // 0..=100, nothing stored
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows.get(1), Some(Reading { id: 2, percent: 99 }));
/// assert_eq!(rows.percent(0), Some(40)); // a per-field reader, through `Deref`
/// assert_eq!(rows.id_column(), [1, 2]);
/// ```
#[derive(Clone)]
pub struct StructVec<C> {
    len: usize,
    columns: C,
}

impl<C: ColumnSet> StructVec<C> {
    /// An empty container (allocates nothing until the first push).
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// assert!(StructVec::<ReadingColumns>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            len: 0,
            columns: C::new(),
        }
    }

    /// An empty container with room for `capacity` rows in every column.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// let rows = StructVec::<ReadingColumns>::with_capacity(1000);
    /// assert!(rows.memory_bytes() >= 1000 * 4);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        let mut rows = Self::new();
        rows.reserve(capacity);
        rows
    }

    /// Number of rows.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// assert_eq!(rows.len(), 1);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no row.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// assert!(StructVec::<ReadingColumns>::new().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The columns themselves (the same value `Deref` gives).
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 9, percent: 5 }).unwrap();
    /// assert_eq!(rows.columns().id_column(), [9]);
    /// ```
    #[inline]
    pub fn columns(&self) -> &C {
        &self.columns
    }

    /// The columns, moved out (the Arrow conversion hands full-width `Vec`s to Arrow this way,
    /// without copying).
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 9, percent: 5 }).unwrap();
    /// assert_eq!(rows.into_columns().id_column(), [9]);
    /// ```
    pub fn into_columns(self) -> C {
        self.columns
    }

    /// Appends a row. If a value is outside its field's `#[bounded(..)]` range or does not fit
    /// its `#[compact(bits = N)]`, returns the error and stores nothing.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// let err = rows.push(Reading { id: 1, percent: 250 }).unwrap_err();
    /// assert_eq!(err.to_string(), "Reading.percent must be <= 100, got 250");
    /// assert!(rows.is_empty());
    /// ```
    #[inline]
    pub fn push(&mut self, row: C::Row) -> Result<(), BoundsError> {
        self.columns.check(&row)?;
        self.columns.push(row);
        self.len += 1;
        Ok(())
    }

    /// Appends every row of `rows`. On the first rejected row, returns its error and removes the
    /// rows this call appended, so the container is as before.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// let batch = [Reading { id: 2, percent: 6 }, Reading { id: 3, percent: 200 }];
    /// assert!(rows.try_extend(batch).is_err());
    /// assert_eq!(rows.len(), 1);
    /// ```
    pub fn try_extend<I: IntoIterator<Item = C::Row>>(
        &mut self,
        rows: I,
    ) -> Result<(), BoundsError> {
        let start = self.len;
        let rows = rows.into_iter();
        self.reserve(rows.size_hint().0);
        for row in rows {
            if let Err(error) = self.push(row) {
                self.truncate(start);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Row `index`, decoded into a value, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// assert_eq!(rows.get(0), Some(Reading { id: 1, percent: 5 }));
    /// assert_eq!(rows.get(1), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<C::Row> {
        if index >= self.len {
            return None;
        }
        self.columns.get(index)
    }

    /// Decodes row `index` into `row`, reusing the buffers of its `String` fields: a loop over
    /// many rows allocates nothing once those buffers are large enough. Returns `false`, and
    /// leaves `row` as it was, past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// let mut row = Reading { id: 0, percent: 0 };
    /// assert!(rows.get_into(0, &mut row));
    /// assert_eq!(row, Reading { id: 1, percent: 5 });
    /// assert!(!rows.get_into(1, &mut row));
    /// ```
    #[inline]
    pub fn get_into(&self, index: usize, row: &mut C::Row) -> bool {
        index < self.len && self.columns.get_into(index, row).is_some()
    }

    /// Replaces row `index`. A value out of its bounds or bits returns the error and changes
    /// nothing.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// rows.set(0, Reading { id: 1, percent: 6 }).unwrap();
    /// assert!(rows.set(0, Reading { id: 1, percent: 101 }).is_err());
    /// assert_eq!(rows.percent(0), Some(6));
    /// ```
    pub fn set(&mut self, index: usize, row: C::Row) -> Result<(), BoundsError> {
        assert!(
            index < self.len,
            "index out of bounds: the len is {} but the index is {}",
            self.len,
            index,
        );
        self.columns.check(&row)?;
        self.columns.set(index, row);
        Ok(())
    }

    /// Removes the last row and returns it, or `None` when empty.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// assert_eq!(rows.pop(), Some(Reading { id: 1, percent: 5 }));
    /// assert_eq!(rows.pop(), None);
    /// ```
    pub fn pop(&mut self) -> Option<C::Row> {
        let last = self.len.checked_sub(1)?;
        let row = self.get(last)?;
        self.truncate(last);
        Some(row)
    }

    /// Removes row `index` and returns it; the last row takes its place (O(1)).
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.try_extend((1..=3).map(|id| Reading { id, percent: 0 })).unwrap();
    /// assert_eq!(rows.swap_remove(0).id, 1);
    /// assert_eq!(rows.id_column(), [3, 2]);
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> C::Row {
        let Some(row) = self.get(index) else {
            panic!(
                "swap_remove index (is {}) should be < len (is {})",
                index, self.len,
            );
        };
        self.columns.swap_remove(index);
        self.len -= 1;
        row
    }

    /// Keeps the first `len` rows (no effect when `len >= self.len()`).
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.try_extend((1..=3).map(|id| Reading { id, percent: 0 })).unwrap();
    /// rows.truncate(1);
    /// assert_eq!(rows.id_column(), [1]);
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.columns.truncate(len);
            self.len = len;
        }
    }

    /// Removes every row (interned strings are forgotten too); capacity is kept.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.push(Reading { id: 1, percent: 5 }).unwrap();
    /// rows.clear();
    /// assert!(rows.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.columns.clear();
        self.len = 0;
    }

    /// Reserves room for `additional` more rows in every column.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.reserve(10);
    /// assert!(rows.memory_bytes() > 0);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.columns.reserve(additional);
    }

    /// Gives back unused capacity of every column.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// let mut rows = StructVec::<ReadingColumns>::with_capacity(100);
    /// rows.shrink_to_fit();
    /// assert_eq!(rows.memory_bytes(), 0);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.columns.shrink_to_fit();
    }

    /// Heap bytes held by every column: allocated capacity, string text, interners.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::ReadingColumns;
    /// assert_eq!(StructVec::<ReadingColumns>::new().memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.columns.memory_bytes()
    }

    /// The rows in order, each decoded into a value.
    ///
    /// ```
    /// # use keel_runtime::layout::StructVec;
    /// # use keel_runtime::layout::doc_example::{Reading, ReadingColumns};
    /// let mut rows = StructVec::<ReadingColumns>::new();
    /// rows.try_extend((1..=3).map(|id| Reading { id, percent: 0 })).unwrap();
    /// assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> Rows<'_, Self> {
        Rows::new(self)
    }
}

/// The per-field readers of the generated column set (`rows.celsius(i)`,
/// `rows.celsius_column()`). Shared access only: nothing can change one column alone.
impl<C> Deref for StructVec<C> {
    type Target = C;
    #[inline]
    fn deref(&self) -> &C {
        &self.columns
    }
}

impl<C: ColumnSet> Default for StructVec<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: ColumnSet> fmt::Debug for StructVec<C> {
    /// The rows as a list, each as its struct's `Debug` would print it (the row type itself
    /// need not implement `Debug`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len).map(|index| super::RowDebug::new(self, index)))
            .finish()
    }
}

impl<C: ColumnSet> PartialEq for StructVec<C> {
    /// Equal when both hold the same rows in the same order (compared column by column, without
    /// decoding; interned strings compare by text, not by id).
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && (0..self.len).all(|index| self.columns.eq_at(index, &other.columns, index))
    }
}

impl<C: ColumnSet> Extend<C::Row> for StructVec<C> {
    /// Appends every row.
    ///
    /// # Panics
    /// On a row out of its bounds or bits (the rows before it stay); use
    /// [`try_extend`](StructVec::try_extend) to get the error instead.
    fn extend<I: IntoIterator<Item = C::Row>>(&mut self, rows: I) {
        for row in rows {
            if let Err(error) = self.push(row) {
                panic!("{error}");
            }
        }
    }
}

impl<C: ColumnSet> FromIterator<C::Row> for StructVec<C> {
    /// Collects rows.
    ///
    /// # Panics
    /// On a row out of its bounds or bits; use [`try_extend`](StructVec::try_extend) to get the
    /// error instead.
    fn from_iter<I: IntoIterator<Item = C::Row>>(rows: I) -> Self {
        let mut out = Self::new();
        out.extend(rows);
        out
    }
}

impl<'a, C: ColumnSet> IntoIterator for &'a StructVec<C> {
    type Item = C::Row;
    type IntoIter = Rows<'a, StructVec<C>>;
    fn into_iter(self) -> Self::IntoIter {
        Rows::new(self)
    }
}

impl<C: ColumnSet> Column for StructVec<C> {
    fn swap_remove(&mut self, index: usize) {
        assert!(
            index < self.len,
            "swap_remove index (is {}) should be < len (is {})",
            index,
            self.len,
        );
        self.columns.swap_remove(index);
        self.len -= 1;
    }
    fn truncate(&mut self, len: usize) {
        StructVec::truncate(self, len);
    }
    fn clear(&mut self) {
        StructVec::clear(self);
    }
    fn reserve(&mut self, additional: usize) {
        StructVec::reserve(self, additional);
    }
    fn shrink_to_fit(&mut self) {
        StructVec::shrink_to_fit(self);
    }
    fn memory_bytes(&self) -> usize {
        StructVec::memory_bytes(self)
    }
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
        match (index < self.len, other_index < other.len) {
            (true, true) => self.columns.eq_at(index, &other.columns, other_index),
            (in_self, in_other) => in_self == in_other,
        }
    }
}

impl<C: ColumnSet> CompactVec for StructVec<C> {
    type Row = C::Row;
    #[inline]
    fn len(&self) -> usize {
        self.len
    }
    fn check(&self, row: &C::Row) -> Result<(), BoundsError> {
        self.columns.check(row)
    }
    #[inline]
    fn push_valid(&mut self, row: C::Row) {
        self.columns.push(row);
        self.len += 1;
    }
    fn set_valid(&mut self, index: usize, row: C::Row) {
        assert!(
            index < self.len,
            "index out of bounds: the len is {} but the index is {}",
            self.len,
            index,
        );
        self.columns.set(index, row);
    }
    #[inline]
    fn get(&self, index: usize) -> Option<C::Row> {
        StructVec::get(self, index)
    }
    #[inline]
    fn get_into(&self, index: usize, row: &mut C::Row) -> bool {
        StructVec::get_into(self, index, row)
    }
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if index >= self.len {
            return f.write_str("<out of bounds>");
        }
        self.columns.fmt_row(index, f)
    }
}
