//! Compile-time layouts and columnar storage: the runtime half of `#[derive(Compact)]`.
//!
//! Python's `__slots__` trims a per-object dict; keel goes further. [`Layout`] describes a
//! struct as the compiler laid it out (size, alignment, padding, each field's offset) next to how
//! few bits each field really needs, and the generated `<Name>Vec` stores many rows by column:
//!
//! | field | column |
//! |---|---|
//! | full-width number, `char` | `Vec<T>`, exposed as a slice |
//! | `#[bounded(lo..=hi)]` / `#[compact(bits = N)]` integer | [`PackedColumn`], offset from `lo` |
//! | `bool` | [`Bitmap`], one bit |
//! | `String` | [`StrArena`], one buffer for all rows |
//! | `#[compact(intern)] String` | [`InternedStrs`], bit-packed ids into an [`Interner`] |
//! | fieldless enum deriving `Compact` | [`EnumVec`], `ceil(log2(variants))` bits |
//! | `#[derive(Bounded)]` newtype over a number | [`NewtypeVec`], integers packed to their bounds |
//! | struct deriving `Compact` | its own `<Name>Vec`, i.e. flattened into columns |
//!
//! Why these columns are written here rather than taken from a crate: `bitvec` addresses single
//! bits well, but reading an N-bit integer goes through its generic `load`/`store` over bit
//! ranges, and interned ids need a column that re-packs itself wider as strings appear; a
//! fixed-width column over `u64` words is ~150 lines and reads a value with two loads.
//! `string-interner`'s string backend has the same shape as [`Interner`] (one buffer, end
//! offsets, a hash table of ids), but `memory_bytes()` must report the exact heap bytes held and
//! rely on dense `u32` ids; building it on `hashbrown`'s `HashTable` (the hard part, from the
//! library) keeps both under our control in ~100 lines.
//!
//! Every piece works without the macro too:
//!
//! ```
//! use keel_runtime::layout::{PackedColumn, bits_for};
//!
//! // Temperatures in -50..=150 need 8 bits as offsets from -50.
//! let bits = bits_for((150 - -50) as u128);
//! let mut celsius = PackedColumn::new(bits);
//! celsius.push((21 - -50) as u64);
//! assert_eq!(celsius.get(0).map(|v| v as i16 - 50), Some(21));
//! ```

mod newtype;
mod packed;
mod strings;

pub use newtype::{NewtypeVec, PackedNewtype};
pub use packed::{Bitmap, PackedColumn, bits_for};
pub use strings::{InternedStrs, Interner, StrArena};

use crate::bounds::BoundsError;
use core::fmt;
use core::marker::PhantomData;

/// How a field is stored in a `<Name>Vec` column.
///
/// ```
/// use keel_runtime::layout::Storage;
/// assert_eq!(Storage::Packed.to_string(), "packed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Storage {
    /// A plain `Vec<T>` at the type's full width.
    Full,
    /// A [`PackedColumn`] of the field's declared width.
    Packed,
    /// A [`Bitmap`].
    Bitmap,
    /// A [`StrArena`]; the bits counted are the per-row end offset, the text is extra.
    Arena,
    /// An [`InternedStrs`]; its id width is decided at run time (`ceil(log2(distinct))`), so
    /// the layout counts 0 bits.
    Interned,
    /// A fieldless enum's index in an [`EnumVec`].
    Enum,
    /// A nested struct's own columns.
    Nested,
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "full",
            Self::Packed => "packed",
            Self::Bitmap => "bitmap",
            Self::Arena => "arena",
            Self::Interned => "interned",
            Self::Enum => "enum",
            Self::Nested => "nested",
        })
    }
}

/// One field of a [`Layout`]: where the compiler put it and how many bits a column needs for it.
///
/// ```
/// use keel_runtime::layout::{FieldLayout, Storage};
///
/// const CELSIUS: FieldLayout = FieldLayout::new("celsius", "i16", 8, 2, 8, Storage::Packed);
/// assert_eq!(CELSIUS.bits(), 8);
/// assert_eq!(CELSIUS.size(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldLayout {
    name: &'static str,
    type_name: &'static str,
    offset: usize,
    size: usize,
    bits: u32,
    storage: Storage,
}

impl FieldLayout {
    /// Describes a field: name, type as written, byte offset in the struct, byte size, bits per
    /// row in a column, and the kind of column.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// let f = FieldLayout::new("active", "bool", 24, 1, 1, Storage::Bitmap);
    /// assert_eq!(f.name(), "active");
    /// ```
    pub const fn new(
        name: &'static str,
        type_name: &'static str,
        offset: usize,
        size: usize,
        bits: u32,
        storage: Storage,
    ) -> Self {
        Self {
            name,
            type_name,
            offset,
            size,
            bits,
            storage,
        }
    }

    /// The field's name.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "u8", 0, 1, 8, Storage::Full).name(), "x");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The field's type as written in the source.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "u8", 0, 1, 8, Storage::Full).type_name(), "u8");
    /// ```
    pub const fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Byte offset of the field in the struct (`core::mem::offset_of!`).
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "u8", 3, 1, 8, Storage::Full).offset(), 3);
    /// ```
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// Byte size of the field (`size_of`).
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "u64", 0, 8, 64, Storage::Full).size(), 8);
    /// ```
    pub const fn size(&self) -> usize {
        self.size
    }

    /// Bits per row the field takes in a column.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "i16", 0, 2, 8, Storage::Packed).bits(), 8);
    /// ```
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// The kind of column.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Storage};
    /// assert_eq!(FieldLayout::new("x", "bool", 0, 1, 1, Storage::Bitmap).storage(), Storage::Bitmap);
    /// ```
    pub const fn storage(&self) -> Storage {
        self.storage
    }
}

/// A type's memory layout as the compiler chose it, with each field's packed width: the
/// `LAYOUT` constant that `#[derive(Compact)]` generates.
///
/// [`Display`](fmt::Display) prints a table in field-offset order with the padding made visible,
/// in the style of the `type-layout` crate.
///
/// ```
/// use keel_runtime::layout::{FieldLayout, Layout, Storage};
///
/// #[allow(dead_code)]
/// struct Pair { a: u8, b: u32 }
/// const LAYOUT: Layout = Layout::new("Pair", size_of::<Pair>(), align_of::<Pair>(), &[
///     FieldLayout::new("a", "u8", core::mem::offset_of!(Pair, a), 1, 8, Storage::Full),
///     FieldLayout::new("b", "u32", core::mem::offset_of!(Pair, b), 4, 32, Storage::Full),
/// ]);
/// assert_eq!(LAYOUT.size(), 8);
/// assert_eq!(LAYOUT.padding_bytes(), 3);
/// assert_eq!(LAYOUT.packed_bits(), 40);
/// println!("{LAYOUT}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    type_name: &'static str,
    size: usize,
    align: usize,
    fields: &'static [FieldLayout],
    variants: Option<u32>,
    newtype: bool,
}

impl Layout {
    /// The layout of a struct.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// const EMPTY: Layout = Layout::new("Unit", 0, 1, &[]);
    /// assert_eq!(EMPTY.fields().len(), 0);
    /// ```
    pub const fn new(
        type_name: &'static str,
        size: usize,
        align: usize,
        fields: &'static [FieldLayout],
    ) -> Self {
        Self {
            type_name,
            size,
            align,
            fields,
            variants: None,
            newtype: false,
        }
    }

    /// The layout of a newtype stored as its single field (a `#[derive(Bounded)]` newtype):
    /// inside another `Compact` struct it takes that field's storage and bits.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Layout, Storage};
    /// const PORT: Layout = Layout::for_newtype("Port", 2, 2, &[
    ///     FieldLayout::new("0", "u16", 0, 2, 16, Storage::Packed),
    /// ]);
    /// assert_eq!(PORT.storage_as_field(), Storage::Packed);
    /// assert_eq!(PORT.packed_bits(), 16);
    /// ```
    pub const fn for_newtype(
        type_name: &'static str,
        size: usize,
        align: usize,
        field: &'static [FieldLayout; 1],
    ) -> Self {
        Self {
            type_name,
            size,
            align,
            fields: field,
            variants: None,
            newtype: true,
        }
    }

    /// The layout of a fieldless enum with `variants` variants.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// const UNIT: Layout = Layout::for_enum("Unit", 1, 1, 5);
    /// assert_eq!(UNIT.packed_bits(), 3);
    /// assert_eq!(UNIT.variants(), Some(5));
    /// ```
    pub const fn for_enum(
        type_name: &'static str,
        size: usize,
        align: usize,
        variants: u32,
    ) -> Self {
        Self {
            type_name,
            size,
            align,
            fields: &[],
            variants: Some(variants),
            newtype: false,
        }
    }

    /// The type's name.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// assert_eq!(Layout::new("T", 0, 1, &[]).type_name(), "T");
    /// ```
    pub const fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// `size_of` the type.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// assert_eq!(Layout::new("T", 16, 8, &[]).size(), 16);
    /// ```
    pub const fn size(&self) -> usize {
        self.size
    }

    /// `align_of` the type.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// assert_eq!(Layout::new("T", 16, 8, &[]).align(), 8);
    /// ```
    pub const fn align(&self) -> usize {
        self.align
    }

    /// The fields in declaration order.
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Layout, Storage};
    /// const L: Layout = Layout::new("T", 1, 1, &[FieldLayout::new("x", "u8", 0, 1, 8, Storage::Full)]);
    /// assert_eq!(L.fields()[0].name(), "x");
    /// ```
    pub const fn fields(&self) -> &'static [FieldLayout] {
        self.fields
    }

    /// The number of variants, for a fieldless enum.
    ///
    /// ```
    /// # use keel_runtime::layout::Layout;
    /// assert_eq!(Layout::new("T", 0, 1, &[]).variants(), None);
    /// ```
    pub const fn variants(&self) -> Option<u32> {
        self.variants
    }

    /// How a field of this type is stored inside another `Compact` struct:
    /// [`Storage::Enum`] for an enum, its field's storage for a newtype, [`Storage::Nested`]
    /// for a struct.
    ///
    /// ```
    /// # use keel_runtime::layout::{Layout, Storage};
    /// assert_eq!(Layout::for_enum("E", 1, 1, 2).storage_as_field(), Storage::Enum);
    /// assert_eq!(Layout::new("S", 0, 1, &[]).storage_as_field(), Storage::Nested);
    /// ```
    pub const fn storage_as_field(&self) -> Storage {
        if self.variants.is_some() {
            Storage::Enum
        } else if self.newtype {
            self.fields[0].storage
        } else {
            Storage::Nested
        }
    }

    /// Bytes of padding: the size minus the bytes of every field (0 for enums).
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Layout, Storage};
    /// const L: Layout = Layout::new("T", 16, 8, &[
    ///     FieldLayout::new("a", "u64", 0, 8, 64, Storage::Full),
    ///     FieldLayout::new("b", "bool", 8, 1, 1, Storage::Bitmap),
    /// ]);
    /// assert_eq!(L.padding_bytes(), 7);
    /// ```
    pub const fn padding_bytes(&self) -> usize {
        if self.variants.is_some() {
            return 0;
        }
        let mut used = 0;
        let mut i = 0;
        while i < self.fields.len() {
            used += self.fields[i].size;
            i += 1;
        }
        self.size.saturating_sub(used)
    }

    /// Bits per row in a column store: the sum of the fields' packed widths (for an enum,
    /// `ceil(log2(variants))`).
    ///
    /// ```
    /// # use keel_runtime::layout::{FieldLayout, Layout, Storage};
    /// const L: Layout = Layout::new("T", 16, 8, &[
    ///     FieldLayout::new("a", "u64", 0, 8, 64, Storage::Full),
    ///     FieldLayout::new("b", "bool", 8, 1, 1, Storage::Bitmap),
    /// ]);
    /// assert_eq!(L.packed_bits(), 65);
    /// ```
    pub const fn packed_bits(&self) -> u32 {
        if let Some(variants) = self.variants {
            return enum_bits(variants);
        }
        let mut bits = 0;
        let mut i = 0;
        while i < self.fields.len() {
            bits += self.fields[i].bits;
            i += 1;
        }
        bits
    }
}

/// Bits needed to store every value of the signed range `lo..=hi` as an offset from `lo`.
/// Evaluated in `const` for each `#[bounded(..)]` integer field, so bounds may be any constant.
///
/// # Panics
/// (a compile error in `const`) when the range is empty or needs more than 64 bits.
///
/// ```
/// # use keel_runtime::layout::range_bits_signed;
/// const BITS: u32 = range_bits_signed(-50, 150);
/// assert_eq!(BITS, 8);
/// assert_eq!(range_bits_signed(i64::MIN as i128, i64::MAX as i128), 64);
/// ```
pub const fn range_bits_signed(lo: i128, hi: i128) -> u32 {
    assert!(
        lo <= hi,
        "the `#[bounded(..)]` range of this field is empty"
    );
    let bits = bits_for(hi.abs_diff(lo));
    assert!(
        bits <= 64,
        "the `#[bounded(..)]` range of this field needs more than 64 bits"
    );
    bits
}

/// Whether `lo..=hi` holds at least one value (`lo <= hi`); generated code asserts it in
/// `const` with a message naming the field.
///
/// ```
/// # use keel_runtime::layout::range_is_ordered_signed;
/// assert!(range_is_ordered_signed(-5, -5));
/// assert!(!range_is_ordered_signed(10, 5));
/// ```
pub const fn range_is_ordered_signed(lo: i128, hi: i128) -> bool {
    lo <= hi
}

/// [`range_is_ordered_signed`] for unsigned ranges.
///
/// ```
/// # use keel_runtime::layout::range_is_ordered_unsigned;
/// assert!(!range_is_ordered_unsigned(10, 5));
/// ```
pub const fn range_is_ordered_unsigned(lo: u128, hi: u128) -> bool {
    lo <= hi
}

/// [`range_bits_signed`] for unsigned ranges.
///
/// # Panics
/// (a compile error in `const`) when the range is empty or needs more than 64 bits.
///
/// ```
/// # use keel_runtime::layout::range_bits_unsigned;
/// assert_eq!(range_bits_unsigned(1, 65535), 16);
/// assert_eq!(range_bits_unsigned(7, 7), 0);
/// ```
pub const fn range_bits_unsigned(lo: u128, hi: u128) -> u32 {
    assert!(
        lo <= hi,
        "the `#[bounded(..)]` range of this field is empty"
    );
    let bits = bits_for(hi - lo);
    assert!(
        bits <= 64,
        "the `#[bounded(..)]` range of this field needs more than 64 bits"
    );
    bits
}

/// Bits needed for the index of an enum with `variants` variants: `ceil(log2(variants))`.
///
/// ```
/// # use keel_runtime::layout::enum_bits;
/// assert_eq!([1, 2, 3, 4, 5, 256, 257].map(enum_bits), [0, 1, 2, 2, 3, 8, 9]);
/// ```
pub const fn enum_bits(variants: u32) -> u32 {
    if variants <= 1 {
        0
    } else {
        bits_for((variants - 1) as u128)
    }
}

impl fmt::Display for Layout {
    /// A table of the fields in memory order, padding included:
    ///
    /// ```text
    /// SensorReading (size 48, align 8, padding 5 bytes, packed 169 bits/row)
    /// | offset | name      | type   | size | bits | storage  |
    /// |--------|-----------|--------|------|------|----------|
    /// | 0      | unit      | String | 24   | 0    | interned |
    /// ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(variants) = self.variants {
            return write!(
                f,
                "{} (size {}, align {}, {variants} variants, packed {} bits/row)",
                self.type_name,
                self.size,
                self.align,
                self.packed_bits()
            );
        }
        writeln!(
            f,
            "{} (size {}, align {}, padding {} bytes, packed {} bits/row)",
            self.type_name,
            self.size,
            self.align,
            self.padding_bytes(),
            self.packed_bits()
        )?;
        let mut rows: Vec<[String; 6]> = Vec::new();
        let mut order: Vec<&FieldLayout> = self.fields.iter().collect();
        order.sort_by_key(|field| field.offset);
        let mut cursor = 0;
        let pad = |at: usize, len: usize| {
            [
                at.to_string(),
                "[padding]".into(),
                String::new(),
                len.to_string(),
                String::new(),
                String::new(),
            ]
        };
        for field in order {
            if field.offset > cursor {
                rows.push(pad(cursor, field.offset - cursor));
            }
            rows.push([
                field.offset.to_string(),
                field.name.into(),
                field.type_name.into(),
                field.size.to_string(),
                field.bits.to_string(),
                field.storage.to_string(),
            ]);
            cursor = cursor.max(field.offset + field.size);
        }
        if self.size > cursor {
            rows.push(pad(cursor, self.size - cursor));
        }
        let header = ["offset", "name", "type", "size", "bits", "storage"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            for (cell, width) in cells.iter().zip(widths) {
                write!(f, "| {cell:<width$} ")?;
            }
            writeln!(f, "|")
        };
        line(f, &header)?;
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        writeln!(f, "|{}|", rules.join("|"))?;
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

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
    note = "supported field types: integers, `f32`, `f64`, `bool`, `char`, `String` (or `#[compact(intern)] String` for repeated values), `#[derive(Bounded)]` newtypes over a number, and fieldless enums or structs that `#[derive(Compact)]` themselves"
)]
pub trait Compact: Sized {
    /// The columnar container of `Self` rows (`<Name>Vec`).
    type Vec: CompactVec<Row = Self>;
    /// The type's layout (the same value as the inherent `LAYOUT` constant).
    const LAYOUT: Layout;
}

/// The interface every columnar container implements, so that containers nest.
///
/// Generated `<Name>Vec`s expose friendlier inherent methods (`push`, `get`, ...); this trait is
/// what those methods and nested containers call. Writes come in two steps so that a rejected row
/// leaves every column untouched: [`check`](Self::check) validates, then
/// [`push_valid`](Self::push_valid) / [`set_valid`](Self::set_valid) store.
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
pub trait CompactVec: Clone + Default {
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
    /// Removes row `index`, moving the last row into its place.
    ///
    /// # Panics
    /// When `index >= len()`.
    fn swap_remove_row(&mut self, index: usize);
    /// Keeps the first `len` rows.
    fn truncate(&mut self, len: usize);
    /// Removes every row (and forgets interned strings).
    fn clear(&mut self);
    /// Reserves room for `additional` more rows in every column.
    fn reserve(&mut self, additional: usize);
    /// Gives back unused capacity in every column.
    fn shrink_to_fit(&mut self);
    /// Heap bytes held by every column (interners included).
    fn memory_bytes(&self) -> usize;
    /// Whether row `index` of `self` equals row `other_index` of `other`, field by field.
    fn row_eq(&self, index: usize, other: &Self, other_index: usize) -> bool;
    /// Writes row `index` in `Debug` form.
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

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
    fn swap_remove_row(&mut self, index: usize) {
        self.indices.swap_remove(index);
    }
    fn truncate(&mut self, len: usize) {
        self.indices.truncate(len);
    }
    fn clear(&mut self) {
        self.indices.clear();
    }
    fn reserve(&mut self, additional: usize) {
        self.indices.reserve(additional);
    }
    fn shrink_to_fit(&mut self) {
        self.indices.shrink_to_fit();
    }
    fn memory_bytes(&self) -> usize {
        self.indices.memory_bytes()
    }
    fn row_eq(&self, index: usize, other: &Self, other_index: usize) -> bool {
        self.indices.get(index) == other.indices.get(other_index)
    }
    fn fmt_row(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.indices.get(index) {
            Some(i) => f.write_str(E::VARIANTS.get(i as usize).copied().unwrap_or("?")),
            None => f.write_str("<out of bounds>"),
        }
    }
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

/// A tiny hand-implemented `Compact` enum for the examples in this module's documentation.
#[doc(hidden)]
pub mod doc_example {
    use super::{Compact, CompactEnum, EnumVec, Layout};

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_fields_in_memory_order_with_padding() {
        const L: Layout = Layout::new(
            "T",
            16,
            8,
            &[
                FieldLayout::new("flag", "bool", 8, 1, 1, Storage::Bitmap),
                FieldLayout::new("n", "u64", 0, 8, 64, Storage::Full),
            ],
        );
        let text = L.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "T (size 16, align 8, padding 7 bytes, packed 65 bits/row)"
        );
        assert_eq!(
            lines[1],
            "| offset | name      | type | size | bits | storage |"
        );
        assert!(lines[3].starts_with("| 0      | n "));
        assert!(lines[4].starts_with("| 8      | flag "));
        assert_eq!(
            lines[5],
            "| 9      | [padding] |      | 7    |      |         |"
        );
    }

    #[test]
    fn enum_vec_round_trips() {
        use doc_example::Level;
        let mut v = EnumVec::new();
        for level in [Level::High, Level::Low, Level::Mid, Level::High] {
            v.push(level);
        }
        assert_eq!(
            Rows::new(&v).collect::<Vec<_>>(),
            [Level::High, Level::Low, Level::Mid, Level::High]
        );
        CompactVec::swap_remove_row(&mut v, 0);
        assert_eq!(v.get(0), Some(Level::High));
        assert_eq!(v.len(), 3);
        assert_eq!(format!("{v:?}"), "[High, Low, Mid]");
    }
}
