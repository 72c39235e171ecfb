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

/// One side of a range: the bound's value (an expression) and whether it is included.
pub struct Side {
    pub value: TokenStream,
    pub included: bool,
}

/// `<attrs> const NAME: Bounds<ty> = Bounds::new(<lower>, <upper>);`, a missing side unbounded.
/// `attrs` carries what precedes `const` (a doc comment, `pub`).
pub fn bounds_const(
    private: &TokenStream,
    attrs: TokenStream,
    name: &Ident,
    ty: &syn::Type,
    lower: Option<Side>,
    upper: Option<Side>,
) -> TokenStream {
    let side = |side: Option<Side>| match side {
        Some(Side {
            value,
            included: true,
        }) => quote!(#private::Bound::Included(#value)),
        Some(Side {
            value,
            included: false,
        }) => quote!(#private::Bound::Excluded(#value)),
        None => quote!(#private::Bound::Unbounded),
    };
    let (lower, upper) = (side(lower), side(upper));
    quote! {
        #attrs
        const #name: #private::Bounds<#ty> = #private::Bounds::new(#lower, #upper);
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
    fn a_missing_side_is_unbounded() {
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
        assert!(
            code.contains("Bound :: Unbounded , :: keel :: __private :: Bound :: Excluded (150)"),
            "{code}"
        );
    }
}
