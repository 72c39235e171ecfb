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
//! A struct's `<Name>Vec` is [`StructVec`] over the `<Name>Columns` [`ColumnSet`] the derive
//! generates; an enum's is [`EnumVec`], a bounded newtype's [`NewtypeVec`].
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

mod container;
mod descriptor;
#[doc(hidden)]
pub mod doc_example;
mod enums;
mod newtype;
mod packed;
mod strings;
mod structs;
mod width;

pub use container::{Column, Compact, CompactVec, RowDebug, Rows};
pub use descriptor::{FieldLayout, Layout, Storage};
pub use enums::{CompactEnum, EnumVec};
pub use newtype::{NewtypeVec, PackedNewtype};
pub use packed::{Bitmap, PackedColumn, bits_for};
pub use strings::{InternedStrs, Interner, StrArena};
pub use structs::{ColumnSet, StructVec};
pub use width::{
    enum_bits, range_bits_signed, range_bits_unsigned, range_is_ordered_signed,
    range_is_ordered_unsigned,
};

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
        Column::swap_remove(&mut v, 0);
        assert_eq!(v.get(0), Some(Level::High));
        assert_eq!(v.len(), 3);
        assert_eq!(format!("{v:?}"), "[High, Low, Mid]");
    }
}
