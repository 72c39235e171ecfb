//! The one generator of a range's `Bounds<T>` constant, for both derives that honour
//! `#[bounded(..)]`, and the one naming scheme of what is generated per range.
//!
//! The constant is public API under its name: `PORT_BOUNDS` for a named field, `BOUNDS_0` for a
//! tuple field, `BOUNDS` for a bounded newtype (`#[derive(Bounded)]` makes it `pub`;
//! `#[derive(Compact)]` keeps it on the private `<Name>Columns` impl).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

/// Whose range it is, which spells every name generated for it.
pub enum BoundsKey {
    /// A bounded newtype's own range.
    Newtype,
    /// A named field (the name without `r#`).
    Named(String),
    /// A tuple field, by index.
    Index(usize),
}

impl BoundsKey {
    /// `PORT_`, `0_`, or nothing for a newtype: the start of every per-range name.
    pub fn prefix(&self) -> String {
        match self {
            Self::Newtype => String::new(),
            Self::Named(name) => format!("{}_", name.to_uppercase()),
            Self::Index(i) => format!("{i}_"),
        }
    }

    /// The name of the `Bounds<T>` constant: `PORT_BOUNDS`, `BOUNDS_0`, `BOUNDS`.
    pub fn bounds_const(&self) -> Ident {
        match self {
            Self::Newtype => format_ident!("BOUNDS"),
            Self::Named(name) => format_ident!("{}_BOUNDS", name.to_uppercase()),
            Self::Index(i) => format_ident!("BOUNDS_{}", i),
        }
    }
}

/// One side of a range: the bound's value (an expression) and whether it is included (a lower
/// bound always is).
pub struct Side {
    pub value: TokenStream,
    pub included: bool,
}

/// `<attrs> const NAME: Bounds<ty> = Bounds::inclusive(lo, hi);` (or `half_open`, `at_least`,
/// `at_most`, `below`: the runtime's constructor for the range's form). `attrs` carries what
/// precedes `const` (a doc comment, `pub`).
pub fn bounds_const(
    private: &TokenStream,
    attrs: TokenStream,
    name: &Ident,
    ty: &syn::Type,
    lower: Option<Side>,
    upper: Option<Side>,
) -> TokenStream {
    let lower = lower.map(|side| side.value);
    let constructor = match (lower, upper) {
        (
            Some(lo),
            Some(Side {
                value: hi,
                included: true,
            }),
        ) => quote!(inclusive(#lo, #hi)),
        (
            Some(lo),
            Some(Side {
                value: hi,
                included: false,
            }),
        ) => quote!(half_open(#lo, #hi)),
        (Some(lo), None) => quote!(at_least(#lo)),
        (
            None,
            Some(Side {
                value: hi,
                included: true,
            }),
        ) => quote!(at_most(#hi)),
        (
            None,
            Some(Side {
                value: hi,
                included: false,
            }),
        ) => quote!(below(#hi)),
        // Unbounded on both sides still means "not NaN".
        (None, None) => quote!(new(
            #private::Bound::Unbounded,
            #private::Bound::Unbounded
        )),
    };
    quote! {
        #attrs
        const #name: #private::Bounds<#ty> = #private::Bounds::#constructor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_naming_scheme() {
        assert_eq!(BoundsKey::Newtype.bounds_const(), "BOUNDS");
        assert_eq!(
            BoundsKey::Named("port".into()).bounds_const(),
            "PORT_BOUNDS"
        );
        assert_eq!(BoundsKey::Index(0).bounds_const(), "BOUNDS_0");
        assert_eq!(BoundsKey::Named("port".into()).prefix(), "PORT_");
    }

    #[test]
    fn a_missing_side_picks_the_constructor() {
        let p = quote!(::keel::__private);
        let code = bounds_const(
            &p,
            quote!(pub),
            &format_ident!("AGE_BOUNDS"),
            &syn::parse_quote!(u8),
            None,
            Some(Side {
                value: quote!(150),
                included: false,
            }),
        )
        .to_string();
        assert!(code.starts_with("pub const AGE_BOUNDS"), "{code}");
        assert!(code.contains("Bounds :: below (150)"), "{code}");
    }
}
