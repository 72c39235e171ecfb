//! Describing a type's memory layout: [`Layout`], [`FieldLayout`], [`Storage`].

use super::enum_bits;
use core::fmt;

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
    /// A [`PackedColumn`](super::PackedColumn) of the field's declared width.
    Packed,
    /// A [`Bitmap`](super::Bitmap).
    Bitmap,
    /// A [`StrArena`](super::StrArena); the bits counted are the per-row end offset, the text is extra.
    Arena,
    /// An [`InternedStrs`](super::InternedStrs); its id width is decided at run time (`ceil(log2(distinct))`), so
    /// the layout counts 0 bits.
    Interned,
    /// A fieldless enum's index in an [`EnumVec`](super::EnumVec).
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
