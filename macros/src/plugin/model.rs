//! What `#[keel::plugin]` generates code from: the arguments and the type as parsed, and the
//! validated [`Plugin`].

use crate::common::crate_path::CratePath;
use syn::{Generics, Ident, LitStr, Path};

/// The `#[keel::plugin(..)]` arguments, as written.
pub struct Options {
    /// The registry trait (first, required).
    pub trait_path: Path,
    /// `name = ".."`; the type's name in snake_case when absent.
    pub name: Option<LitStr>,
    /// `aliases = ["..", ..]`.
    pub aliases: Vec<LitStr>,
    /// `new = path`: the constructor; `Default` (or `From<Args>`) when absent.
    pub new: Option<Path>,
    /// `crate = path`.
    pub krate: Option<CratePath>,
}

/// The struct or enum the attribute is on.
pub struct PluginType {
    pub ident: Ident,
    pub generics: Generics,
    /// Its doc comment, which becomes the plugin's description.
    pub description: Option<String>,
}

/// A checked plugin: everything expansion needs.
pub struct Plugin {
    pub options: Options,
    pub ty: PluginType,
    /// The registered name first, then the aliases, each valid and claimed once.
    pub names: Vec<String>,
}
