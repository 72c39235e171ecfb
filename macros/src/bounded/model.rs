//! What `#[derive(Bounded)]` generates code from, after validation.

use crate::common::crate_path::CratePath;
use crate::common::primitive::Primitive;
use crate::common::range::RangeSpec;
use syn::{Attribute, Generics, Ident, Member, Type, Visibility};

/// A validated derive input.
pub struct Bounded {
    /// The struct's name.
    pub ident: Ident,
    /// The struct's visibility, given to every generated item.
    pub vis: Visibility,
    /// The struct's generics (always empty for newtypes).
    pub generics: Generics,
    /// Where generated code finds keel.
    pub krate: CratePath,
    /// Newtype or struct with fields.
    pub shape: Shape,
    /// `#[bounded(deserialize)]`: generate a validating `Deserialize` (records only).
    pub deserialize: bool,
    /// The struct's own `#[serde(..)]` attributes, given to that `Deserialize`.
    pub serde_attrs: Vec<Attribute>,
}

/// The two kinds of item the derive accepts.
pub enum Shape {
    /// `#[bounded(1..=65535)] struct Port(u16);`
    Newtype(Box<Bound>),
    /// A struct (named or tuple) whose fields may carry `#[bounded(..)]`.
    Record(Record),
}

/// A struct whose fields are checked one by one.
pub struct Record {
    /// `struct S { a: T }` (true) or `struct S(T, U)` (false).
    pub named: bool,
    /// Every field, in declaration order (bounded or not).
    pub fields: Vec<Field>,
}

/// One field of a [`Record`].
pub struct Field {
    /// `self.<member>`.
    pub member: Member,
    /// The name used in messages: `port`, or `0` for a tuple field.
    pub name: String,
    /// The parameter of `try_new` / `new_const` that receives this field.
    pub param: Ident,
    /// The field's type.
    pub ty: Type,
    /// Its bounds, when it has `#[bounded(..)]`.
    pub bound: Option<Bound>,
    /// Its `#[serde(..)]` attributes (`rename`, `default`, `alias`, ...), honoured by the
    /// `Deserialize` of `#[bounded(deserialize)]`.
    pub serde_attrs: Vec<Attribute>,
}

/// A checked range and the type it bounds.
pub struct Bound {
    /// The range as written.
    pub range: RangeSpec,
    /// The bounded type: the field's type, or `T` of an `Option<T>` field.
    pub ty: Type,
    /// The field is an `Option<T>`: `None` is always accepted, `Some(v)` is checked.
    pub optional: bool,
    /// `Some(Primitive::U16)` when the type is a primitive number.
    pub primitive: Option<Primitive>,
}

impl Bound {
    /// Whether the type is a primitive integer.
    pub fn is_integer(&self) -> bool {
        self.primitive.is_some_and(Primitive::is_int)
    }

    /// Whether the type is `f32` or `f64`.
    pub fn is_float(&self) -> bool {
        self.primitive.is_some_and(Primitive::is_float)
    }
}
