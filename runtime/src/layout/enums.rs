//! Fieldless enums as columns: [`CompactEnum`] and [`EnumVec`].

use super::{Column, CompactVec, PackedColumn, Rows, enum_bits};
use crate::bounds::BoundsError;
use core::fmt;
use core::marker::PhantomData;

/// A fieldless enum stored as its variant index: implemented by `#[derive(Compact)]` on enums.
///
/// ```
/// use keel_runtime::layout::CompactEnum;
/// use keel_runtime::layout::doc_example::Level;
///
/// assert_eq!(Level::High.index(), 2);
/// assert_eq!(Level::from_index(0), Some(Level::Low));
/// assert_eq!(Level::VARIANTS, ["Low", "Mid", "High"]);
/// ```
pub trait CompactEnum: Sized {
    /// The variant names in declaration order.
    const VARIANTS: &'static [&'static str];
    /// The index of `self`'s variant in [`VARIANTS`](Self::VARIANTS).
    fn index(&self) -> u32;
    /// The variant at `index`.
    fn from_index(index: u32) -> Option<Self>;
}

/// A column of fieldless-enum values in `ceil(log2(variants))` bits each: the `<Name>Vec` of
/// an enum deriving `Compact`.
///
/// ```
/// use keel_runtime::layout::EnumVec;
/// use keel_runtime::layout::doc_example::Level;
///
/// let mut levels = EnumVec::new();
/// levels.push(Level::Mid);
/// levels.push(Level::High);
/// assert_eq!(levels.get(1), Some(Level::High));
/// assert_eq!(levels.bits(), 2);
/// assert_eq!(levels.iter().collect::<Vec<_>>(), [Level::Mid, Level::High]);
/// ```
pub struct EnumVec<E> {
    indices: PackedColumn,
    marker: PhantomData<fn() -> E>,
}

impl<E: CompactEnum> EnumVec<E> {
    /// An empty column.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// assert!(EnumVec::<Level>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            indices: PackedColumn::new(enum_bits(E::VARIANTS.len() as u32)),
            marker: PhantomData,
        }
    }

    /// Bits per value.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// assert_eq!(EnumVec::<Level>::new().bits(), 2);
    /// ```
    pub fn bits(&self) -> u32 {
        self.indices.bits()
    }

    /// Each row's variant index (`CompactEnum::index`), bit-packed.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// let mut v = EnumVec::new();
    /// v.push(Level::High);
    /// assert_eq!(v.indices().get(0), Some(2));
    /// ```
    pub fn indices(&self) -> &super::PackedColumn {
        &self.indices
    }

    /// Number of values.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// let mut v = EnumVec::new();
    /// v.push(Level::Low);
    /// assert_eq!(v.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when empty.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// assert!(EnumVec::<Level>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Appends a value (always fits).
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// let mut v = EnumVec::new();
    /// v.push(Level::Low);
    /// assert_eq!(v.get(0), Some(Level::Low));
    /// ```
    pub fn push(&mut self, value: E) {
        self.indices.push(value.index().into());
    }

    /// The value at `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// assert_eq!(EnumVec::<Level>::new().get(0), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<E> {
        E::from_index(self.indices.get(index)? as u32)
    }

    /// The values in order.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// let mut v = EnumVec::new();
    /// v.push(Level::Mid);
    /// assert_eq!(v.iter().next(), Some(Level::Mid));
    /// ```
    pub fn iter(&self) -> Rows<'_, Self> {
        Rows::new(self)
    }

    /// Heap bytes held.
    ///
    /// ```
    /// # use keel_runtime::layout::EnumVec;
    /// # use keel_runtime::layout::doc_example::Level;
    /// assert_eq!(EnumVec::<Level>::new().memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.indices.memory_bytes()
    }
}

impl<E: CompactEnum> Default for EnumVec<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Clone for EnumVec<E> {
    fn clone(&self) -> Self {
        Self {
            indices: self.indices.clone(),
            marker: PhantomData,
        }
    }
}

impl<E: CompactEnum> fmt::Debug for EnumVec<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.indices
                    .iter()
                    .map(|i| DebugName(E::VARIANTS[i as usize])),
            )
            .finish()
    }
}

impl<E: CompactEnum> PartialEq for EnumVec<E> {
    fn eq(&self, other: &Self) -> bool {
        self.indices == other.indices
    }
}

struct DebugName(&'static str);

impl fmt::Debug for DebugName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<E> Column for EnumVec<E> {
    fn swap_remove(&mut self, index: usize) {
        Column::swap_remove(&mut self.indices, index);
    }
    fn truncate(&mut self, len: usize) {
        Column::truncate(&mut self.indices, len);
    }
    fn clear(&mut self) {
        Column::clear(&mut self.indices);
    }
    fn reserve(&mut self, additional: usize) {
        Column::reserve(&mut self.indices, additional);
    }
    fn shrink_to_fit(&mut self) {
        Column::shrink_to_fit(&mut self.indices);
    }
    fn memory_bytes(&self) -> usize {
        Column::memory_bytes(&self.indices)
    }
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
        Column::eq_at(&self.indices, index, &other.indices, other_index)
    }
}

impl<E: CompactEnum> CompactVec for EnumVec<E> {
    type Row = E;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn check(&self, _row: &E) -> Result<(), BoundsError> {
        Ok(())
    }
    fn push_valid(&mut self, row: E) {
        self.push(row);
    }
    fn set_valid(&mut self, index: usize, row: E) {
        self.indices.set(index, row.index().into());
    }
    fn get(&self, index: usize) -> Option<E> {
        EnumVec::get(self, index)
    }
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.indices.get(index) {
            Some(i) => f.write_str(E::VARIANTS.get(i as usize).copied().unwrap_or("?")),
            None => f.write_str("<out of bounds>"),
        }
    }
}
