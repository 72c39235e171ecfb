//! Accumulating several `syn::Error`s so a user sees every mistake at once, and the one rule for
//! what an attribute macro emits when it fails.

use proc_macro2::TokenStream;

/// Collects errors; `finish` returns them combined, or `Ok` when there were none.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// An empty collection.
    pub fn new() -> Self {
        Self(None)
    }

    /// Adds one error.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Adds a new error spanned at `tokens`.
    pub fn push_spanned<T: quote::ToTokens, M: std::fmt::Display>(
        &mut self,
        tokens: T,
        message: M,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Keeps the value of `result`, recording its error if any.
    pub fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// True when no error has been recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The recorded errors combined, for a caller that cannot go on; should none have been
    /// recorded, an error at the macro call saying so (never a panic).
    pub fn into_error(self) -> syn::Error {
        self.0.unwrap_or_else(|| {
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "keel could not read this item (no more detail is known: please report it)",
            )
        })
    }

    /// All recorded errors combined, or `Ok(())`.
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// What an attribute macro emits: its expansion, or on error the errors *and the item
/// unchanged*, so that a mistake never cascades into "cannot find function/type" errors where
/// the item is used.
pub fn or_item(result: syn::Result<TokenStream>, item: TokenStream) -> TokenStream {
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    type Attribute = fn(TokenStream, TokenStream) -> TokenStream;

    /// Every attribute macro, given a mistake, emits the errors and then the item as written.
    #[test]
    fn a_failing_attribute_keeps_the_item() {
        let cases: [(&str, Attribute, TokenStream, TokenStream); 5] = [
            (
                "transaction",
                crate::transaction::transaction,
                quote!(),
                quote!(
                    struct Kept;
                ),
            ),
            (
                "instrument",
                crate::instrument::instrument,
                quote!(bogus),
                quote!(
                    fn kept() {}
                ),
            ),
            (
                "plugin",
                crate::plugin::plugin,
                quote!(Trait, bogus = 1),
                quote!(
                    struct Kept;
                ),
            ),
            (
                "registry",
                crate::registry::registry,
                quote!(bogus),
                quote!(
                    trait Kept {}
                ),
            ),
            (
                "registry on a fn",
                crate::registry::registry,
                quote!(),
                quote!(
                    fn kept() {}
                ),
            ),
        ];
        for (name, attribute, args, item) in cases {
            let out = attribute(args, item.clone()).to_string();
            assert!(out.contains("compile_error"), "{name}: {out}");
            assert!(out.ends_with(&item.to_string()), "{name}: {out}");
        }
    }
}
