//! The primitive types the macros treat specially, read once from the field's `syn::Type`: every
//! later decision (bit width, signedness, literal checks, codec) is a `match` on [`Primitive`],
//! and a type that is not one is `None`, never a guessed default.

use proc_macro2::{Ident, Span};

/// A primitive scalar type, as written in a field (`u16`, `::core::primitive::f64`, `std::u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    U8,
    U16,
    U32,
    U64,
    U128,
    Usize,
    I8,
    I16,
    I32,
    I64,
    I128,
    Isize,
    F32,
    F64,
    Bool,
    Char,
}

use Primitive::*;

const ALL: [Primitive; 16] = [
    U8, U16, U32, U64, U128, Usize, I8, I16, I32, I64, I128, Isize, F32, F64, Bool, Char,
];

impl Primitive {
    /// The type named `name` (`"u16"`), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|p| p.name() == name)
    }

    /// The primitive `ty` names: a path whose last segment is a primitive's name without
    /// generics, written alone, with a leading `::`, or under `std`/`core`.
    pub fn of(ty: &syn::Type) -> Option<Self> {
        let syn::Type::Path(path) = ty else {
            return None;
        };
        if path.qself.is_some() {
            return None;
        }
        let segments = &path.path.segments;
        let last = segments.last()?;
        if !last.arguments.is_empty() {
            return None;
        }
        let rooted = segments.len() == 1
            || path.path.leading_colon.is_some()
            || segments[0].ident == "core"
            || segments[0].ident == "std";
        rooted
            .then(|| Self::from_name(&last.ident.to_string()))
            .flatten()
    }

    /// The primitive `ty` names when it is a number (an integer or a float).
    pub fn number(ty: &syn::Type) -> Option<Self> {
        Self::of(ty).filter(|p| p.is_int() || p.is_float())
    }

    /// The type's name (`"u16"`).
    pub fn name(self) -> &'static str {
        match self {
            U8 => "u8",
            U16 => "u16",
            U32 => "u32",
            U64 => "u64",
            U128 => "u128",
            Usize => "usize",
            I8 => "i8",
            I16 => "i16",
            I32 => "i32",
            I64 => "i64",
            I128 => "i128",
            Isize => "isize",
            F32 => "f32",
            F64 => "f64",
            Bool => "bool",
            Char => "char",
        }
    }

    /// The type as an identifier, for generated code.
    pub fn ident(self) -> Ident {
        Ident::new(self.name(), Span::call_site())
    }

    /// `i8`..`i128`, `isize`, `u8`..`u128`, `usize`.
    pub fn is_int(self) -> bool {
        self.int_range().is_some()
    }

    /// `i8`..`i128` and `isize`.
    pub fn is_signed(self) -> bool {
        matches!(self, I8 | I16 | I32 | I64 | I128 | Isize)
    }

    /// `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, F32 | F64)
    }

    /// The type's size in bits. `usize` and `isize` count as 64 bits, the widest target keel
    /// builds for (a packed column of them is checked against that width).
    pub fn bits(self) -> u32 {
        match self {
            U8 | I8 | Bool => 8,
            U16 | I16 => 16,
            U32 | I32 | F32 | Char => 32,
            U64 | I64 | Usize | Isize | F64 => 64,
            U128 | I128 => 128,
        }
    }

    /// The unsigned integer of the same width (`usize` for `isize`); `None` for a non-integer.
    pub fn unsigned(self) -> Option<Self> {
        match self {
            U8 | I8 => Some(U8),
            U16 | I16 => Some(U16),
            U32 | I32 => Some(U32),
            U64 | I64 => Some(U64),
            U128 | I128 => Some(U128),
            Usize | Isize => Some(Usize),
            F32 | F64 | Bool | Char => None,
        }
    }

    /// The smallest and largest value of an integer type (`usize`/`isize` as 64-bit; `u128`'s
    /// top clamped to `i128::MAX`, which only literal checks read); `None` for a non-integer.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            I8 => (i8::MIN.into(), i8::MAX.into()),
            I16 => (i16::MIN.into(), i16::MAX.into()),
            I32 => (i32::MIN.into(), i32::MAX.into()),
            I64 | Isize => (i64::MIN.into(), i64::MAX.into()),
            I128 => (i128::MIN, i128::MAX),
            U8 => (0, u8::MAX.into()),
            U16 => (0, u16::MAX.into()),
            U32 => (0, u32::MAX.into()),
            U64 | Usize => (0, u64::MAX.into()),
            U128 => (0, i128::MAX),
            F32 | F64 | Bool | Char => return None,
        })
    }
}

impl std::fmt::Display for Primitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn read_from_the_type_as_written() {
        assert_eq!(Primitive::of(&parse_quote!(u16)), Some(U16));
        assert_eq!(
            Primitive::of(&parse_quote!(::core::primitive::f64)),
            Some(F64)
        );
        assert_eq!(
            Primitive::of(&parse_quote!(std::primitive::bool)),
            Some(Bool)
        );
        assert_eq!(Primitive::of(&parse_quote!(char)), Some(Char));
        assert_eq!(Primitive::of(&parse_quote!(my::u8)), None);
        assert_eq!(Primitive::of(&parse_quote!(Level)), None);
        assert_eq!(Primitive::number(&parse_quote!(bool)), None);
        for p in ALL {
            assert_eq!(Primitive::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn every_integer_has_a_width_and_an_unsigned_twin() {
        for p in ALL {
            assert_eq!(p.is_int(), p.unsigned().is_some(), "{p}");
        }
        assert_eq!(Isize.unsigned(), Some(Usize));
        assert_eq!(I16.bits(), 16);
        assert_eq!(Usize.bits(), 64);
    }
}
