//! The traits every columnar container implements, so containers nest, and what is built on
//! them alone: [`Rows`] (iteration) and [`RowDebug`] (`Debug` of one row).

use super::{Bitmap, InternedStrs, Layout, PackedColumn, StrArena};
use crate::bounds::BoundsError;
use core::fmt;

/// A type that `#[derive(Compact)]` implemented: it knows its [`Layout`] and its columnar
/// container. Fields of such a type inside another `Compact` struct are stored in that container
/// (a nested struct is flattened into its columns, an enum into its packed index).
///
/// ```
/// use keel_runtime::layout::{Compact, CompactVec};
///
/// fn rows_of<T: Compact>(items: Vec<T>) -> T::Vec {
///     let mut rows = T::Vec::default();
///     for item in items {
///         rows.check(&item).expect("in bounds");
///         rows.push_valid(item);
///     }
///     rows
/// }
/// # let _ = rows_of::<keel_runtime::layout::doc_example::Level>;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by `#[derive(Compact)]`",
    label = "unsupported field type",
    note = "supported field types: integers, `f32`, `f64`, `bool`, `char`, `String` (or `#[compact(intern)] String` for repeated values), `#[derive(Bounded)]` newtypes over a number, and fieldless enums or structs that `#[derive(Compact)]` themselves; a type of your own becomes one with `#[derive(keel::Compact)]`"
)]
pub trait Compact: Sized {
    /// The columnar container of `Self` rows (`<Name>Vec`).
    type Vec: CompactVec<Row = Self>;
    /// The type's layout (the same value as the inherent `LAYOUT` constant).
    const LAYOUT: Layout;
}

/// What every column does the same way, whatever it stores: the row-independent half of a
/// container (removing, truncating, reserving, measuring, comparing rows).
///
/// Implemented by the leaf columns ([`PackedColumn`], [`Bitmap`], [`StrArena`],
/// [`InternedStrs`], `Vec<T>`) and by every container ([`EnumVec`](super::EnumVec),
/// [`NewtypeVec`](super::NewtypeVec), [`StructVec`](super::StructVec)), so a generated column set treats each of its columns alike, nested containers
/// included.
///
/// ```
/// use keel_runtime::layout::{Column, PackedColumn};
///
/// let mut column = PackedColumn::new(4);
/// for value in [1, 2, 3] {
///     column.push(value);
/// }
/// Column::swap_remove(&mut column, 0);
/// assert_eq!(column.iter().collect::<Vec<_>>(), [3, 2]);
/// assert!(Column::eq_at(&column, 1, &column.clone(), 1));
/// Column::truncate(&mut column, 1);
/// assert_eq!(column.len(), 1);
/// ```
pub trait Column: Clone {
    /// Removes the value at `index`, moving the last value into its place.
    ///
    /// # Panics
    /// When `index` is past the end.
    fn swap_remove(&mut self, index: usize);
    /// Keeps the first `len` values (no effect when the column is shorter).
    fn truncate(&mut self, len: usize);
    /// Removes every value (an interner forgets its strings too); capacity is kept.
    fn clear(&mut self);
    /// Reserves room for `additional` more values.
    fn reserve(&mut self, additional: usize);
    /// Gives back unused capacity.
    fn shrink_to_fit(&mut self);
    /// Heap bytes held (allocated capacity, string text, interners).
    fn memory_bytes(&self) -> usize;
    /// Whether the value at `index` equals the value at `other_index` of `other` (`false` when
    /// either is past the end of its column, unless both are).
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool;
}

/// The row interface every columnar container implements, so that containers nest.
///
/// `<Name>Vec`s expose friendlier inherent methods (`push`, `get`, ...); this trait is what
/// those methods and nested containers call. Writes come in two steps so that a rejected row
/// leaves every column untouched: [`check`](Self::check) validates, then
/// [`push_valid`](Self::push_valid) / [`set_valid`](Self::set_valid) store. The row-independent
/// operations (truncating, reserving, measuring) come from [`Column`].
///
/// ```
/// use keel_runtime::layout::{CompactVec, EnumVec};
/// use keel_runtime::layout::doc_example::Level;
///
/// let mut levels = EnumVec::<Level>::default();
/// levels.check(&Level::High).unwrap();
/// levels.push_valid(Level::High);
/// assert_eq!(CompactVec::get(&levels, 0), Some(Level::High));
/// assert_eq!(CompactVec::len(&levels), 1);
/// ```
pub trait CompactVec: Column + Default {
    /// The row type.
    type Row;
    /// Number of rows.
    fn len(&self) -> usize;
    /// True when there is no row.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Validates `row` against every field's declared bounds and bit widths, storing nothing.
    fn check(&self, row: &Self::Row) -> Result<(), BoundsError>;
    /// Appends a row that passed [`check`](Self::check). An unchecked out-of-range value is not
    /// undefined behaviour: it panics in debug builds and is truncated to its bits otherwise.
    fn push_valid(&mut self, row: Self::Row);
    /// Overwrites row `index` with a row that passed [`check`](Self::check).
    ///
    /// # Panics
    /// When `index >= len()`.
    fn set_valid(&mut self, index: usize, row: Self::Row);
    /// Row `index`, decoded, or `None` past the end.
    fn get(&self, index: usize) -> Option<Self::Row>;
    /// Decodes row `index` into `row`, reusing whatever buffers `row` owns (the generated
    /// containers refill `String` fields in place); `false`, with `row` unchanged, past the end.
    ///
    /// ```
    /// use keel_runtime::layout::{CompactVec, EnumVec};
    /// use keel_runtime::layout::doc_example::Level;
    ///
    /// let mut levels = EnumVec::<Level>::default();
    /// levels.push_valid(Level::High);
    /// let mut row = Level::Low;
    /// assert!(levels.get_into(0, &mut row));
    /// assert_eq!(row, Level::High);
    /// assert!(!levels.get_into(1, &mut row));
    /// assert_eq!(row, Level::High);
    /// ```
    #[inline]
    fn get_into(&self, index: usize, row: &mut Self::Row) -> bool {
        match self.get(index) {
            Some(value) => {
                *row = value;
                true
            }
            None => false,
        }
    }
    /// Writes row `index` in `Debug` form.
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// `Debug` for one row of a container, through [`CompactVec::fmt_row`] (no decoding into a
/// value, so the row type need not implement `Debug`).
///
/// ```
/// use keel_runtime::layout::{EnumVec, RowDebug};
/// use keel_runtime::layout::doc_example::Level;
///
/// let mut v = EnumVec::new();
/// v.push(Level::Mid);
/// assert_eq!(format!("{:?}", RowDebug::new(&v, 0)), "Mid");
/// ```
pub struct RowDebug<'a, V> {
    rows: &'a V,
    index: usize,
}

impl<'a, V: CompactVec> RowDebug<'a, V> {
    /// Row `index` of `rows`.
    ///
    /// ```
    /// # use keel_runtime::layout::{EnumVec, RowDebug};
    /// # use keel_runtime::layout::doc_example::Level;
    /// let v = EnumVec::<Level>::new();
    /// assert_eq!(format!("{:?}", RowDebug::new(&v, 3)), "<out of bounds>");
    /// ```
    pub fn new(rows: &'a V, index: usize) -> Self {
        Self { rows, index }
    }
}

impl<V: CompactVec> fmt::Debug for RowDebug<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rows.fmt_row(self.index, f)
    }
}

/// The iterator over a container's rows, decoded (`<Name>Vec::iter`).
///
/// ```
/// use keel_runtime::layout::{EnumVec, Rows};
/// use keel_runtime::layout::doc_example::Level;
///
/// let mut v = EnumVec::new();
/// v.push(Level::Low);
/// v.push(Level::High);
/// let rows: Rows<'_, EnumVec<Level>> = Rows::new(&v);
/// assert_eq!(rows.rev().collect::<Vec<_>>(), [Level::High, Level::Low]);
/// ```
pub struct Rows<'a, V> {
    rows: &'a V,
    front: usize,
    back: usize,
}

impl<'a, V: CompactVec> Rows<'a, V> {
    /// Iterates over every row of `rows`.
    ///
    /// ```
    /// # use keel_runtime::layout::{EnumVec, Rows};
    /// # use keel_runtime::layout::doc_example::Level;
    /// let v = EnumVec::<Level>::new();
    /// assert_eq!(Rows::new(&v).len(), 0);
    /// ```
    pub fn new(rows: &'a V) -> Self {
        Self {
            rows,
            front: 0,
            back: rows.len(),
        }
    }
}

impl<V> Clone for Rows<'_, V> {
    fn clone(&self) -> Self {
        Self {
            rows: self.rows,
            front: self.front,
            back: self.back,
        }
    }
}

impl<V: CompactVec> Iterator for Rows<'_, V> {
    type Item = V::Row;

    #[inline]
    fn next(&mut self) -> Option<V::Row> {
        if self.front >= self.back {
            return None;
        }
        let row = self.rows.get(self.front);
        self.front += 1;
        row
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<V::Row> {
        self.front = self.front.saturating_add(n).min(self.back);
        self.next()
    }
}

impl<V: CompactVec> DoubleEndedIterator for Rows<'_, V> {
    fn next_back(&mut self) -> Option<V::Row> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.rows.get(self.back)
    }
}

impl<V: CompactVec> ExactSizeIterator for Rows<'_, V> {}
impl<V: CompactVec> core::iter::FusedIterator for Rows<'_, V> {}

impl<T: Copy + PartialEq> Column for Vec<T> {
    fn swap_remove(&mut self, index: usize) {
        Vec::swap_remove(self, index);
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    fn shrink_to_fit(&mut self) {
        Vec::shrink_to_fit(self);
    }
    fn memory_bytes(&self) -> usize {
        self.capacity() * size_of::<T>()
    }
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
        self.as_slice().get(index) == other.as_slice().get(other_index)
    }
}

/// `Column` for a leaf column whose inherent methods have the same names.
macro_rules! leaf_column {
    ($($column:ty),*) => {$(
        impl Column for $column {
            fn swap_remove(&mut self, index: usize) {
                <$column>::swap_remove(self, index);
            }
            fn truncate(&mut self, len: usize) {
                <$column>::truncate(self, len);
            }
            fn clear(&mut self) {
                <$column>::clear(self);
            }
            fn reserve(&mut self, additional: usize) {
                <$column>::reserve(self, additional);
            }
            fn shrink_to_fit(&mut self) {
                <$column>::shrink_to_fit(self);
            }
            fn memory_bytes(&self) -> usize {
                <$column>::memory_bytes(self)
            }
            fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
                self.get(index) == other.get(other_index)
            }
        }
    )*};
}

leaf_column!(PackedColumn, Bitmap, StrArena, InternedStrs);
