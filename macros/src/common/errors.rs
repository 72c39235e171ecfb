//! Accumulating several `syn::Error`s so a user sees every mistake at once.

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

    /// All recorded errors combined, or `Ok(())`.
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
