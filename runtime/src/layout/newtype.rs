//! `#[derive(Bounded)]` newtypes as `Compact` fields: the type carries its bounds, so a column
//! of it needs no attribute, and an integer newtype is bit-packed to exactly its range.

use super::{Column, CompactVec, PackedColumn, Rows};
use crate::bounds::BoundsError;
use core::fmt;
use core::marker::PhantomData;

/// A newtype over a number that a [`NewtypeVec`] column stores as a code of [`BITS`](Self::BITS)
/// bits. `#[derive(Bounded)]` implements it (with [`Compact`](super::Compact)) for every newtype
/// over an integer up to 64 bits or a float, so such a newtype is a valid field of a
/// `#[derive(Compact)]` struct without any attribute:
///
/// * an integer newtype is stored as its offset from `MIN` in
///   `ceil(log2(MAX - MIN + 1))` bits (`Port` in `1..=65535` takes 16 bits, `Percent` in
///   `0..=100` takes 7);
/// * a float newtype is stored at its full width (its IEEE bits).
///
/// ```
/// use keel_runtime::layout::PackedNewtype;
/// use keel_runtime::layout::doc_example::Percent;
///
/// let half = Percent::try_new(50).unwrap();
/// assert_eq!(Percent::BITS, 7);
/// assert_eq!(Percent::decode(half.encode()), half);
/// assert!(Percent::validate(half).is_ok());
/// ```
pub trait PackedNewtype: Copy {
    /// Bits per value in a column.
    const BITS: u32;
    /// The value's code in its column: the offset from `MIN` for an integer, the IEEE bits for a
    /// float. Always below `2^BITS` for a value within the bounds.
    fn encode(self) -> u64;
    /// The value whose code is `code` (a code that [`encode`](Self::encode) produced).
    fn decode(code: u64) -> Self;
    /// Checks the value against its bounds again: code inside the newtype's own module can build
    /// one without going through `try_new`, and a column must not store what it cannot decode.
    fn validate(self) -> Result<(), BoundsError>;
    /// Writes the value as `#[derive(Debug)]` on the newtype would: `Port(8080)`.
    fn fmt_debug(self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A column of bounded-newtype values: the container a `#[derive(Bounded)]` newtype gets as a
/// `Compact` type, and therefore the column its fields get inside a `<Name>Vec`.
///
/// ```
/// use keel_runtime::layout::NewtypeVec;
/// use keel_runtime::layout::doc_example::Percent;
///
/// let mut column = NewtypeVec::new();
/// column.push(Percent::try_new(99).unwrap()).unwrap();
/// column.push(Percent::try_new(3).unwrap()).unwrap();
/// assert_eq!(column.get(1), Percent::try_new(3).ok());
/// assert_eq!(column.codes().bits(), 7);
/// assert_eq!(format!("{column:?}"), "[Percent(99), Percent(3)]");
/// ```
pub struct NewtypeVec<T> {
    codes: PackedColumn,
    marker: PhantomData<fn() -> T>,
}

impl<T: PackedNewtype> NewtypeVec<T> {
    /// An empty column of `T::BITS` bits per value.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// assert!(NewtypeVec::<Percent>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            codes: PackedColumn::new(T::BITS),
            marker: PhantomData,
        }
    }

    /// Number of values.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// let mut column = NewtypeVec::new();
    /// column.push(Percent::MAX).unwrap();
    /// assert_eq!(column.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when the column holds no value.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// assert!(NewtypeVec::<Percent>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Appends a value; a value outside its bounds (possible only where the newtype's field is
    /// visible) returns the error and stores nothing.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// let mut column = NewtypeVec::new();
    /// column.push(Percent::MIN).unwrap();
    /// assert_eq!(column.get(0), Some(Percent::MIN));
    /// ```
    pub fn push(&mut self, value: T) -> Result<(), BoundsError> {
        value.validate()?;
        self.codes.push(value.encode());
        Ok(())
    }

    /// The value at `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// assert_eq!(NewtypeVec::<Percent>::new().get(0), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<T> {
        self.codes.get(index).map(T::decode)
    }

    /// The values in order.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// let mut column = NewtypeVec::new();
    /// column.push(Percent::MAX).unwrap();
    /// assert_eq!(column.iter().collect::<Vec<_>>(), [Percent::MAX]);
    /// ```
    pub fn iter(&self) -> Rows<'_, Self> {
        Rows::new(self)
    }

    /// The packed codes (each value's offset from `MIN`, or a float's bits).
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// let mut column = NewtypeVec::new();
    /// column.push(Percent::try_new(42).unwrap()).unwrap();
    /// assert_eq!(column.codes().get(0), Some(42));
    /// ```
    pub fn codes(&self) -> &PackedColumn {
        &self.codes
    }

    /// Heap bytes held.
    ///
    /// ```
    /// # use keel_runtime::layout::NewtypeVec;
    /// # use keel_runtime::layout::doc_example::Percent;
    /// assert_eq!(NewtypeVec::<Percent>::new().memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.codes.memory_bytes()
    }
}

impl<T: PackedNewtype> Default for NewtypeVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for NewtypeVec<T> {
    fn clone(&self) -> Self {
        Self {
            codes: self.codes.clone(),
            marker: PhantomData,
        }
    }
}

impl<T> PartialEq for NewtypeVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.codes == other.codes
    }
}

impl<T: PackedNewtype> fmt::Debug for NewtypeVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|index| super::RowDebug::new(self, index)))
            .finish()
    }
}

impl<T> Column for NewtypeVec<T> {
    fn swap_remove(&mut self, index: usize) {
        Column::swap_remove(&mut self.codes, index);
    }
    fn truncate(&mut self, len: usize) {
        Column::truncate(&mut self.codes, len);
    }
    fn clear(&mut self) {
        Column::clear(&mut self.codes);
    }
    fn reserve(&mut self, additional: usize) {
        Column::reserve(&mut self.codes, additional);
    }
    fn shrink_to_fit(&mut self) {
        Column::shrink_to_fit(&mut self.codes);
    }
    fn memory_bytes(&self) -> usize {
        Column::memory_bytes(&self.codes)
    }
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
        Column::eq_at(&self.codes, index, &other.codes, other_index)
    }
}

impl<T: PackedNewtype> CompactVec for NewtypeVec<T> {
    type Row = T;
    fn len(&self) -> usize {
        self.codes.len()
    }
    fn check(&self, row: &T) -> Result<(), BoundsError> {
        row.validate()
    }
    fn push_valid(&mut self, row: T) {
        self.codes.push(row.encode());
    }
    fn set_valid(&mut self, index: usize, row: T) {
        self.codes.set(index, row.encode());
    }
    #[inline]
    fn get(&self, index: usize) -> Option<T> {
        NewtypeVec::get(self, index)
    }
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get(index) {
            Some(value) => value.fmt_debug(f),
            None => f.write_str("<out of bounds>"),
        }
    }
}

/// `bounded_newtype_compact!(int Newtype, Inner)` or `(float Newtype, Inner)`: the
/// [`PackedNewtype`] and [`Compact`](crate::layout::Compact) impls of a `#[derive(Bounded)]`
/// newtype over a number, which make it a valid `#[derive(Compact)]` field. Uses the newtype's
/// `MIN`, `MAX` and `try_new`, which the derive generates.
#[doc(hidden)]
#[macro_export]
macro_rules! __keel_bounded_newtype_compact {
    (int $newtype:ident, $inner:ty) => {
        $crate::__keel_bounded_newtype_compact!(@impl $newtype, $inner,
            bits: $crate::layout::range_bits_signed(
                $newtype::MIN.0 as i128,
                $newtype::MAX.0 as i128,
            ),
            encode(value) { (value.0 as i128 - $newtype::MIN.0 as i128) as u64 },
            decode(code) { $newtype(($newtype::MIN.0 as i128 + code as i128) as $inner) }
        );
        $crate::__keel_with_arrow! {
            impl $crate::arrow::ArrowNewtype for $newtype {
                const RANGE: ::core::option::Option<(i128, i128)> =
                    ::core::option::Option::Some(($newtype::MIN.0 as i128, $newtype::MAX.0 as i128));
            }
        }
    };
    (float $newtype:ident, $inner:ty) => {
        $crate::__keel_bounded_newtype_compact!(@impl $newtype, $inner,
            bits: (::core::mem::size_of::<$inner>() * 8) as u32,
            encode(value) { u64::from(value.0.to_bits()) },
            decode(code) { $newtype(<$inner>::from_bits(code as _)) }
        );
        $crate::__keel_with_arrow! {
            impl $crate::arrow::ArrowNewtype for $newtype {
                const RANGE: ::core::option::Option<(i128, i128)> = ::core::option::Option::None;
            }
        }
    };
    (@impl $newtype:ident, $inner:ty,
        bits: $bits:expr,
        encode($value:ident) $encode:block,
        decode($code:ident) $decode:block
    ) => {
        impl $crate::layout::PackedNewtype for $newtype {
            const BITS: u32 = $bits;
            #[inline]
            fn encode(self) -> u64 {
                let $value = self;
                $encode
            }
            #[inline]
            fn decode(code: u64) -> Self {
                let $code = code;
                $decode
            }
            fn validate(self) -> ::core::result::Result<(), $crate::bounds::BoundsError> {
                $newtype::try_new(self.0).map(|_| ())
            }
            fn fmt_debug(self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_tuple(::core::stringify!($newtype))
                    .field(&self.0)
                    .finish()
            }
        }

        impl $crate::layout::Compact for $newtype {
            type Vec = $crate::layout::NewtypeVec<$newtype>;
            const LAYOUT: $crate::layout::Layout = $crate::layout::Layout::for_newtype(
                ::core::stringify!($newtype),
                ::core::mem::size_of::<$newtype>(),
                ::core::mem::align_of::<$newtype>(),
                &[$crate::layout::FieldLayout::new(
                    "0",
                    ::core::stringify!($inner),
                    0,
                    ::core::mem::size_of::<$inner>(),
                    <$newtype as $crate::layout::PackedNewtype>::BITS,
                    $crate::layout::Storage::Packed,
                )],
            );
        }
    };
}

#[cfg(test)]
mod tests {
    use super::super::doc_example::Percent;
    use super::super::{Compact, Storage};
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Ratio(f32);

    impl Ratio {
        fn try_new(value: f32) -> Result<Self, BoundsError> {
            crate::bounds::Bounds::inclusive(0.0f32, 1.0)
                .check(value, "Ratio", None)
                .map(Self)
        }
    }

    crate::__keel_bounded_newtype_compact!(float Ratio, f32);

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Offset(i64);

    impl Offset {
        const MIN: Self = Self(i64::MIN);
        const MAX: Self = Self(i64::MAX);
        fn try_new(value: i64) -> Result<Self, BoundsError> {
            Ok(Self(value))
        }
    }

    crate::__keel_bounded_newtype_compact!(int Offset, i64);

    #[test]
    fn integers_pack_to_their_range_and_floats_keep_full_width() {
        assert_eq!(Percent::BITS, 7);
        assert_eq!(Offset::BITS, 64);
        assert_eq!(Ratio::BITS, 32);
        assert_eq!(Percent::LAYOUT.storage_as_field(), Storage::Packed);
        assert_eq!(Percent::LAYOUT.packed_bits(), 7);

        let mut offsets = NewtypeVec::new();
        for value in [i64::MIN, -1, 0, 1, i64::MAX] {
            offsets.push(Offset(value)).unwrap();
        }
        assert_eq!(
            offsets.iter().map(|o| o.0).collect::<Vec<_>>(),
            [i64::MIN, -1, 0, 1, i64::MAX]
        );

        let mut ratios = NewtypeVec::new();
        ratios.push(Ratio(0.25)).unwrap();
        assert_eq!(ratios.get(0), Some(Ratio(0.25)));
    }

    #[test]
    fn a_value_built_past_try_new_is_rejected_and_nothing_is_stored() {
        let mut ratios = NewtypeVec::new();
        ratios.push(Ratio(1.0)).unwrap();
        let err = ratios.push(Ratio(1.5)).unwrap_err();
        assert_eq!(err.to_string(), "Ratio must be in 0.0..=1.0, got 1.5");
        assert_eq!(ratios.len(), 1);
        let err = CompactVec::check(&ratios, &Ratio(f32::NAN)).unwrap_err();
        assert!(err.to_string().ends_with("got NaN"), "{err}");
    }

    #[test]
    fn every_edit_keeps_the_other_values() {
        let p = |v| Percent::try_new(v).unwrap();
        let mut column: NewtypeVec<Percent> = NewtypeVec::new();
        for v in [0, 50, 100, 7] {
            column.push(p(v)).unwrap();
        }
        column.set_valid(1, p(99));
        Column::swap_remove(&mut column, 0);
        assert_eq!(column.iter().collect::<Vec<_>>(), [p(7), p(99), p(100)]);
        let copy = column.clone();
        assert!(column.eq_at(2, &copy, 2));
        assert!(!column.eq_at(0, &copy, 1));
        column.truncate(1);
        assert_eq!(format!("{column:?}"), "[Percent(7)]");
        column.clear();
        assert!(column.is_empty());
    }
}
