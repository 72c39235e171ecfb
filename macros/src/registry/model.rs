//! What `#[keel::registry]` generates code from.

use crate::common::crate_path::CratePath;
use syn::{ItemTrait, Type};

/// The `#[keel::registry(..)]` options, as written.
#[derive(Default)]
pub struct Options {
    /// `args = Type`: what constructors receive; `()` when absent.
    pub args: Option<Type>,
    /// `crate = path`.
    pub krate: Option<CratePath>,
}

/// A checked registry trait: everything expansion needs.
pub struct Registry {
    /// The trait, emitted unchanged.
    pub item: ItemTrait,
    pub args: Option<Type>,
    pub krate: CratePath,
}
