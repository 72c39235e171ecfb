//! What `#[keel::instrument]` works from: the options of one attribute (on the item, or on a
//! function inside an instrumented impl block or module). The item itself stays a `syn::Item`,
//! rewritten in place by [`super::expand`].

use crate::common::crate_path::CratePath;
use syn::{Ident, LitStr};

/// The options of one `#[keel::instrument(..)]`.
#[derive(Clone, Default)]
pub struct Options {
    /// `args(x, y)`: parameters recorded on entry.
    pub args: Vec<Ident>,
    /// `ret`: record the return value (the keyword, for spans).
    pub ret: Option<Ident>,
    /// `err` / `err(Debug)`: insist on a `Result` and record its error.
    pub err: Option<ErrOption>,
    /// `skip`: leave this item alone.
    pub skip: Option<Ident>,
    /// `name = ".."`: the qualified name events report.
    pub name: Option<LitStr>,
    /// `crate = path`.
    pub krate: Option<CratePath>,
    /// `args(..)`, for spans of container-level misuse.
    pub args_keyword: Option<Ident>,
}

/// `err` or `err(Debug)`.
#[derive(Clone)]
pub struct ErrOption {
    pub keyword: Ident,
    pub debug: bool,
}
