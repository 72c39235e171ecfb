//! Tiny hand-implemented `Compact` types for the examples in the layout documentation, written
//! the way the derives write them (the runtime cannot use its own macros).

use super::{
    Column, ColumnSet, Compact, CompactEnum, EnumVec, FieldLayout, Layout, PackedColumn, Storage,
    StructVec,
};
use crate::bounds::{Bounds, BoundsError};
use core::fmt;

/// Three levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Low.
    Low,
    /// Mid.
    Mid,
    /// High.
    High,
}

impl CompactEnum for Level {
    const VARIANTS: &'static [&'static str] = &["Low", "Mid", "High"];
    fn index(&self) -> u32 {
        *self as u32
    }
    fn from_index(index: u32) -> Option<Self> {
        [Self::Low, Self::Mid, Self::High]
            .get(index as usize)
            .copied()
    }
}

impl Compact for Level {
    type Vec = EnumVec<Self>;
    const LAYOUT: Layout = Layout::for_enum("Level", 1, 1, 3);
}

/// A whole percentage, `0..=100`, written the way `#[derive(Bounded)]` writes a newtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percent(u8);

impl Percent {
    /// 0 %.
    pub const MIN: Self = Self(0);
    /// 100 %.
    pub const MAX: Self = Self(100);

    /// `value` as a percentage, or the error when it is above 100.
    pub fn try_new(value: u8) -> Result<Self, crate::bounds::BoundsError> {
        crate::bounds::Bounds::inclusive(0, 100)
            .check(value, "Percent", None)
            .map(Self)
    }
}

crate::__keel_bounded_newtype_compact!(int Percent, u8);

/// A row with a full-width and a bounded (bit-packed) field, as
/// `#[derive(Compact)] struct Reading { id: u32, #[bounded(0..=100)] percent: u8 }` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Full width: a `Vec<u32>` column.
    pub id: u32,
    /// `0..=100`: 7 bits per row.
    pub percent: u8,
}

/// The columns of [`Reading`].
#[derive(Clone)]
pub struct ReadingColumns {
    id: Vec<u32>,
    percent: PackedColumn,
}

impl ReadingColumns {
    const PERCENT_BOUNDS: Bounds<u8> = Bounds::inclusive(0, 100);
    const PERCENT_BITS: u32 = 7;

    /// The `id` of row `index`, or `None` past the end.
    pub fn id(&self, index: usize) -> Option<u32> {
        self.id.get(index).copied()
    }

    /// Every row's `id`.
    pub fn id_column(&self) -> &[u32] {
        &self.id
    }

    /// The `percent` of row `index`, or `None` past the end.
    pub fn percent(&self, index: usize) -> Option<u8> {
        self.percent
            .get_fixed::<{ Self::PERCENT_BITS }>(index)
            .map(|code| code as u8)
    }
}

impl Column for ReadingColumns {
    fn swap_remove(&mut self, index: usize) {
        Column::swap_remove(&mut self.id, index);
        Column::swap_remove(&mut self.percent, index);
    }
    fn truncate(&mut self, len: usize) {
        Column::truncate(&mut self.id, len);
        Column::truncate(&mut self.percent, len);
    }
    fn clear(&mut self) {
        Column::clear(&mut self.id);
        Column::clear(&mut self.percent);
    }
    fn reserve(&mut self, additional: usize) {
        Column::reserve(&mut self.id, additional);
        Column::reserve(&mut self.percent, additional);
    }
    fn shrink_to_fit(&mut self) {
        Column::shrink_to_fit(&mut self.id);
        Column::shrink_to_fit(&mut self.percent);
    }
    fn memory_bytes(&self) -> usize {
        Column::memory_bytes(&self.id) + Column::memory_bytes(&self.percent)
    }
    fn eq_at(&self, index: usize, other: &Self, other_index: usize) -> bool {
        Column::eq_at(&self.id, index, &other.id, other_index)
            && Column::eq_at(&self.percent, index, &other.percent, other_index)
    }
}

impl ColumnSet for ReadingColumns {
    type Row = Reading;
    fn new() -> Self {
        Self {
            id: Vec::new(),
            percent: PackedColumn::new(Self::PERCENT_BITS),
        }
    }
    fn check(&self, row: &Reading) -> Result<(), BoundsError> {
        Self::PERCENT_BOUNDS.check(row.percent, "Reading", Some("percent"))?;
        Ok(())
    }
    fn push(&mut self, row: Reading) {
        self.id.push(row.id);
        self.percent.push(u64::from(row.percent));
    }
    fn set(&mut self, index: usize, row: Reading) {
        self.id[index] = row.id;
        self.percent.set(index, u64::from(row.percent));
    }
    fn get(&self, index: usize) -> Option<Reading> {
        Some(Reading {
            id: self.id(index)?,
            percent: self.percent(index)?,
        })
    }
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reading")
            .field("id", &self.id(index).unwrap_or_default())
            .field("percent", &self.percent(index).unwrap_or_default())
            .finish()
    }
}

impl Compact for Reading {
    type Vec = StructVec<ReadingColumns>;
    const LAYOUT: Layout = Layout::new(
        "Reading",
        size_of::<Reading>(),
        align_of::<Reading>(),
        &[
            FieldLayout::new(
                "id",
                "u32",
                core::mem::offset_of!(Reading, id),
                4,
                32,
                Storage::Full,
            ),
            FieldLayout::new(
                "percent",
                "u8",
                core::mem::offset_of!(Reading, percent),
                1,
                ReadingColumns::PERCENT_BITS,
                Storage::Packed,
            ),
        ],
    );
}
