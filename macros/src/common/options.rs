//! The options layer every attribute and derive parser uses, so that a mistake in an option reads
//! the same whichever macro reports it:
//!
//! - [`Seen`] / [`set_once`]: an option given twice is `duplicate option `x``, at the second one;
//! - [`unknown`]: `unknown option `x` for `#[attr]`: expected ..`, at the option;
//! - `crate = path` is read by one parser, [`crate::common::crate_path::parse_value`], in both
//!   spellings (`crate = my_keel`, `crate = "my_keel"`);
//! - errors are collected with [`crate::common::errors::Errors`];
//! - an attribute macro that fails emits the errors *and the item unchanged*
//!   ([`crate::common::errors::or_item`]), so one mistake never cascades into "cannot find
//!   function" errors where the item is used. (A derive emits only its errors: the item it is on
//!   stays in place anyway.)

use proc_macro2::Span;
use std::fmt::Display;

/// The error for an option given a second time, spanned at that second occurrence.
pub fn duplicate(span: Span, name: impl Display) -> syn::Error {
    syn::Error::new(span, format!("duplicate option `{name}`"))
}

/// The error for an option the attribute does not know: `attr` says which attribute, as it
/// should read in the message (`` `#[keel::plugin]` ``, `` `#[compact(..)]` on a field ``),
/// `expected` lists what it takes.
pub fn unknown(span: Span, name: impl Display, attr: &str, expected: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("unknown option `{name}` for {attr}: expected {expected}"),
    )
}

/// Stores `value` in `slot` the first time; a second time, the [`duplicate`] error (the first
/// value is kept).
pub fn set_once<T>(slot: &mut Option<T>, value: T, name: &str, span: Span) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(span, name));
    }
    *slot = Some(value);
    Ok(())
}

/// The options met so far in one attribute, for options that are not stored in an `Option`
/// slot (a flag, a list).
#[derive(Default)]
pub struct Seen(Vec<String>);

impl Seen {
    /// Records `name`; the [`duplicate`] error at `span` when it was met before.
    pub fn first(&mut self, name: &str, span: Span) -> syn::Result<()> {
        if self.0.iter().any(|seen| seen == name) {
            return Err(duplicate(span, name));
        }
        self.0.push(name.to_owned());
        Ok(())
    }
}

/// A path as written, without token spacing (`my::option`), for messages.
pub fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_option_is_one_error_with_one_wording() {
        let mut slot = None;
        assert!(set_once(&mut slot, 1, "retry", Span::call_site()).is_ok());
        let error = set_once(&mut slot, 2, "retry", Span::call_site()).unwrap_err();
        assert_eq!(error.to_string(), "duplicate option `retry`");
        assert_eq!(slot, Some(1));
        let mut seen = Seen::default();
        assert!(seen.first("ret", Span::call_site()).is_ok());
        assert!(seen.first("err", Span::call_site()).is_ok());
        let error = seen.first("ret", Span::call_site()).unwrap_err();
        assert_eq!(error.to_string(), "duplicate option `ret`");
    }

    #[test]
    fn unknown_names_the_attribute_and_what_it_takes() {
        let error = unknown(Span::call_site(), "bogus", "`#[keel::x]`", "`a` or `b`");
        assert_eq!(
            error.to_string(),
            "unknown option `bogus` for `#[keel::x]`: expected `a` or `b`"
        );
    }
}
