//! The function's span is the outermost wrapper of a function that is also a transaction.
//!
//! Attribute macros expand outermost first. `#[keel::transaction]` written above
//! `#[keel::instrument]` wraps the body first, and the span then wraps it all. Written below it,
//! or on a function of an instrumented impl block or module (which is rewritten before the
//! function's own attributes run), the transaction would wrap the already-instrumented body and
//! the span would time each attempt. So when a function to instrument still carries
//! `#[keel::transaction]`, the attribute is taken off and expanded here, first, and the result
//! is instrumented: in every order the function's span counts one call per call, and the
//! transaction's span (one per call, retries included) runs inside it.
//!
//! The transaction expansion is whatever `crate::transaction` makes of the function, so an
//! `async fn` transaction follows the same path once that macro accepts one; the instrument
//! expansion then wraps its `async` body as for any `async fn`.

use super::parse::is_keel_attribute;
use crate::common::crate_path::CratePath;
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Block, ItemFn, Meta, Signature, Visibility};

/// Expands a `#[keel::transaction]` found in `attrs` (taken off them) on the function made of
/// `vis`, `sig` and `block`, leaving the expanded signature and body in place. Returns `false`
/// when the transaction attribute does not expand (a mistake in it or in the function): the
/// attribute is then put back and the function must be left alone, so that the attribute
/// reports its own errors once, when it runs.
pub fn expand_transaction_first(
    attrs: &mut Vec<Attribute>,
    vis: &Visibility,
    sig: &mut Signature,
    block: &mut Block,
    krate: &CratePath,
) -> bool {
    let Some(index) = attrs
        .iter()
        .position(|attr| is_keel_attribute(attr, krate, "transaction"))
    else {
        return true;
    };
    let args = match &attrs[index].meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(_) => return false,
    };
    let function = ItemFn {
        attrs: Vec::new(),
        vis: vis.clone(),
        modifiers: syn::FnModifiers::default(),
        sig: sig.clone(),
        block: Box::new(block.clone()),
    };
    let Ok(tokens) = crate::transaction::expand_transaction(args, function.into_token_stream())
    else {
        return false;
    };
    let Ok(expanded) = syn::parse2::<ItemFn>(tokens) else {
        return false;
    };
    let attr = attrs.remove(index);
    *sig = expanded.sig;
    *block = *expanded.block;
    // The attribute's path is still resolved (so an imported `transaction` counts as used).
    let path = attr.path();
    block.stmts.insert(
        0,
        syn::parse_quote!(#[allow(unused_imports)] use #path as _;),
    );
    true
}
