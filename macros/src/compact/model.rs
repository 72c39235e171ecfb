//! What `#[derive(Compact)]` read from the item: the typed model that validation and expansion
//! work on.

use crate::common::crate_path::CratePath;
use crate::common::primitive::Primitive;
use crate::common::range::RangeSpec;
use syn::{Ident, LitInt, Type, Visibility};

/// The item the derive is on.
pub struct Container {
    pub ident: Ident,
    pub vis: Visibility,
    pub options: Options,
    pub data: Data,
}

/// Item-level `#[compact(..)]` options.
pub struct Options {
    /// `crate = path`, default `::keel`.
    pub krate: CratePath,
    /// `max_size = N`: the literal (for its span) and its value.
    pub max_size: Option<(LitInt, usize)>,
}

/// The shape of the item.
pub enum Data {
    /// A struct with named fields.
    Struct(Vec<Field>),
    /// A fieldless enum: its variant names in order.
    Enum(Vec<Ident>),
}

/// One named field of a struct and what its attributes said.
pub struct Field {
    pub ident: Ident,
    pub vis: Visibility,
    pub ty: Type,
    pub class: TypeClass,
    /// `#[compact(bits = N)]`: the literal and its value.
    pub bits: Option<(LitInt, u32)>,
    /// `#[compact(intern)]`: the `intern` word, for spans.
    pub intern: Option<Ident>,
    /// `#[bounded(range)]`.
    pub range: Option<RangeSpec>,
}

/// What kind of value a field's type is, decided from its syntax.
pub enum TypeClass {
    /// A primitive integer (`u8`, `isize`, ...).
    Int(Primitive),
    /// `f32` or `f64`.
    Float(Primitive),
    Bool,
    Char,
    String,
    /// Any other plain type path: must implement `keel::Compact` (a fieldless enum or a struct
    /// that derives it), which the compiler checks.
    Nested,
    /// A type no column can hold, with the explanation to show.
    Unsupported(String),
}
