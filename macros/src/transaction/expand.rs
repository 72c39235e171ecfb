//! The function keeps its signature; its body becomes a closure handed to `keel::tx::run` (or
//! `run_retrying` with `retry = N`), with the options in a constant.

use super::parse::{Behavior, Isolation, Nested};
use super::validate::Transaction;
use crate::common::crate_path::CratePath;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{FnArg, Ident, Pat};

pub fn expand(model: Transaction) -> TokenStream {
    let Transaction {
        mut item,
        conn_index,
        conn,
        conn_target,
        conn_by_ref,
        conn_span,
        output,
        name,
        retry,
        nested,
        read_only,
        isolation,
        behavior,
        krate,
    } = model;
    // Generated paths carry the span of what they check, so errors land on the user's tokens:
    // the connection parameter, the return type, or `retry = N`.
    let private_at = |span: Span| match &krate {
        Some(krate) => krate.private(),
        None => CratePath::default_at(span).private(),
    };
    let private = private_at(Span::call_site());

    let mut options = quote!(#private::tx::Options::new().name(#name));
    if let Some(nested) = nested {
        let variant = match nested {
            Nested::Savepoint => quote!(Savepoint),
            Nested::Join => quote!(Join),
            Nested::Fail => quote!(Fail),
        };
        options.extend(quote!(.nested(#private::tx::Nested::#variant)));
    }
    if read_only {
        options.extend(quote!(.read_only(true)));
    }
    if let Some(isolation) = isolation {
        let variant = match isolation {
            Isolation::ReadUncommitted => quote!(ReadUncommitted),
            Isolation::ReadCommitted => quote!(ReadCommitted),
            Isolation::RepeatableRead => quote!(RepeatableRead),
            Isolation::Serializable => quote!(Serializable),
        };
        options.extend(quote!(.isolation(#private::tx::Isolation::#variant)));
    }
    if let Some(behavior) = behavior {
        let variant = match behavior {
            Behavior::Deferred => quote!(Deferred),
            Behavior::Immediate => quote!(Immediate),
            Behavior::Exclusive => quote!(Exclusive),
        };
        options.extend(quote!(.behavior(#private::tx::Behavior::#variant)));
    }

    // A connection taken by value is lent to the transaction as `&mut`; it must be `mut`.
    if !conn_by_ref {
        if let Some(FnArg::Typed(param)) = item.sig.inputs.iter_mut().nth(conn_index) {
            if let Pat::Ident(pat) = &mut *param.pat {
                pat.mutability
                    .get_or_insert_with(|| syn::Token![mut](Span::call_site()));
            }
        }
    }
    // Checked on its own, spanned at the parameter: "`X` is not a connection" points there.
    let conn_private = private_at(conn_span);
    let conn_arg = if conn_by_ref {
        quote_spanned!(conn_span=> #conn_private::tx::connection(&mut *#conn))
    } else {
        quote_spanned!(conn_span=> #conn_private::tx::connection(&mut #conn))
    };

    let options_const = Ident::new("__KEEL_TX_OPTIONS", Span::mixed_site());
    // With `retry`, a body that cannot run twice is reported at `retry = N`.
    let body_span = retry.as_ref().map_or(Span::call_site(), |retry| retry.span);
    let body_fn = Ident::new("__keel_tx_body", Span::mixed_site().located_at(body_span));
    let block = &item.block;
    let closure_head = quote!(|#conn: &mut #conn_target|);
    let call = match retry {
        None => {
            // An error type lacking `From<TxError>` is reported at the return type.
            let span = syn::spanned::Spanned::span(&output);
            let private = private_at(span);
            quote_spanned!(span=> #private::tx::run(#conn_arg, &#options_const, #body_fn))
        }
        Some(retry) => {
            let n = retry.value;
            let private = private_at(retry.span);
            quote_spanned!(retry.span=> #private::tx::run_retrying(#conn_arg, &#options_const, #n, #body_fn))
        }
    };

    let new_block = quote! {{
        const #options_const: #private::tx::Options = #options;
        let #body_fn = #closure_head -> #output #block;
        #call
    }};
    *item.block = syn::parse_quote!(#new_block);
    quote!(#item)
}
