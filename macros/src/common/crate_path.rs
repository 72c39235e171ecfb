//! `crate = path`: where generated code finds keel when the user renamed the dependency.

use proc_macro2::Span;
use syn::{Path, parse_quote_spanned};

/// The path generated code uses to reach keel: `::keel` unless `crate = path` said otherwise.
#[derive(Clone)]
pub struct CratePath(Path);

impl CratePath {
    /// `::keel`, spanned at `span` so errors about missing items point at the macro call.
    pub fn default_at(span: Span) -> Self {
        Self(parse_quote_spanned!(span=> ::keel))
    }

    /// A user-given path (`crate = my_keel`).
    pub fn from_path(path: Path) -> Self {
        Self(path)
    }

    /// The path itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `<crate>::__private`, the only module generated code names items from.
    pub fn private(&self) -> proc_macro2::TokenStream {
        let path = &self.0;
        quote::quote!(#path::__private)
    }
}

/// Parses the value of a `crate = path` option inside `syn::meta::parser` (the `crate` keyword is
/// matched by the caller with `meta.path.is_ident("crate")`).
pub fn parse_crate_option(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<CratePath> {
    parse_value(meta.value()?)
}

/// The path after `crate =`, in either spelling: `crate = my_keel` or serde's
/// `crate = "my_keel"`. The one parser of the option, for every macro.
pub fn parse_value(input: syn::parse::ParseStream<'_>) -> syn::Result<CratePath> {
    let path = if input.peek(syn::LitStr) {
        input
            .parse::<syn::LitStr>()?
            .parse_with(Path::parse_mod_style)?
    } else {
        Path::parse_mod_style(input)?
    };
    Ok(CratePath::from_path(path))
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    /// Every macro reads `crate = path` with the one parser: both spellings reach the generated
    /// code.
    #[test]
    fn every_macro_takes_both_spellings() {
        for krate in [quote!(crate = my_keel), quote!(crate = "my_keel")] {
            let outputs: [(&str, TokenStream); 6] = [
                (
                    "bounded",
                    crate::bounded::derive(quote!(
                        #[bounded(1..=9, #krate)]
                        struct L(u8);
                    )),
                ),
                (
                    "compact",
                    crate::compact::derive(quote!(
                        #[compact(#krate)]
                        struct R {
                            a: u8,
                        }
                    )),
                ),
                (
                    "instrument",
                    crate::instrument::instrument(
                        quote!(#krate),
                        quote!(
                            fn f() {}
                        ),
                    ),
                ),
                (
                    "plugin",
                    crate::plugin::plugin(
                        quote!(Trait, #krate),
                        quote!(
                            struct P;
                        ),
                    ),
                ),
                (
                    "registry",
                    crate::registry::registry(
                        quote!(#krate),
                        quote!(
                            trait T {}
                        ),
                    ),
                ),
                (
                    "transaction",
                    crate::transaction::transaction(
                        quote!(#krate),
                        quote!(
                            fn t(c: &mut C) -> Result<(), E> {
                                Ok(())
                            }
                        ),
                    ),
                ),
            ];
            for (name, out) in outputs {
                let out = out.to_string();
                assert!(out.contains("my_keel :: __private"), "{name}: {out}");
                assert!(!out.contains("compile_error"), "{name}: {out}");
            }
        }
    }
}
