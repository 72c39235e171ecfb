//! The function keeps its signature; its body becomes a closure handed to `keel::tx::run` (or
//! `run_retrying` with `retry = N`), with the options in a constant. On an `async fn` the body
//! becomes an async closure handed to `run_async` (`run_async_retrying`), awaited.

use super::model::{Choice, Connection, Transaction};
use crate::common::crate_path::CratePath;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{FnArg, Ident, Pat};

pub fn expand(model: Transaction) -> TokenStream {
    let Transaction {
        mut item,
        is_async,
        conn,
        output,
        name,
        options,
    } = model;
    let Connection {
        index: conn_index,
        ident: conn,
        target: conn_target,
        by_ref: conn_by_ref,
        span: conn_span,
    } = conn;
    let krate = &options.krate;
    // Generated paths carry the span of what they check, so errors land on the user's tokens:
    // the connection parameter, the return type, or `retry = N`.
    let private_at = |span: Span| match krate {
        Some(krate) => krate.private(),
        None => CratePath::default_at(span).private(),
    };
    let private = private_at(Span::call_site());

    let mut builder = quote!(#private::tx::Options::new().name(#name));
    if let Some(nested) = options.nested {
        builder.extend(setter(&private, nested));
    }
    if options.read_only {
        builder.extend(quote!(.read_only(true)));
    }
    if let Some(isolation) = options.isolation {
        builder.extend(setter(&private, isolation));
    }
    if let Some(behavior) = options.behavior {
        builder.extend(setter(&private, behavior));
    }
    let retry = options.retry;

    // A connection taken by value is lent to the transaction as `&mut`; it must be `mut`.
    if !conn_by_ref
        && let Some(FnArg::Typed(param)) = item.sig.inputs.iter_mut().nth(conn_index)
        && let Pat::Ident(pat) = &mut *param.pat
    {
        pat.mutability
            .get_or_insert_with(|| syn::Token![mut](Span::call_site()));
    }
    // Checked on its own, spanned at the parameter: "`X` is not a connection" points there.
    let conn_private = private_at(conn_span);
    let check = if is_async {
        quote_spanned!(conn_span=> async_connection)
    } else {
        quote_spanned!(conn_span=> connection)
    };
    let conn_arg = if conn_by_ref {
        quote_spanned!(conn_span=> #conn_private::tx::#check(&mut *#conn))
    } else {
        quote_spanned!(conn_span=> #conn_private::tx::#check(&mut #conn))
    };

    let options_const = Ident::new("__KEEL_TX_OPTIONS", Span::mixed_site());
    if is_async {
        let new_block = expand_async(AsyncParts {
            private: &private,
            private_at: &private_at,
            options_const: &options_const,
            options: &builder,
            conn: &conn,
            conn_target: &conn_target,
            conn_arg: &conn_arg,
            output: &output,
            block: &item.block,
            retry: retry.as_ref().map(|r| (r.times, r.span)),
        });
        // The async engine is behind keel's async driver features: `with_async_tx!` keeps the
        // new body when one is on, and otherwise reports them and keeps the body as written.
        let original = &item.block;
        *item.block = syn::parse_quote!({ #private::with_async_tx! { #new_block #original } });
        return quote!(#item);
    }
    // With `retry`, a body that cannot run twice is reported at `retry = N`.
    let body_span = retry.as_ref().map_or(Span::call_site(), |retry| retry.span);
    let body_fn = Ident::new("__keel_tx_body", Span::mixed_site().located_at(body_span));
    let block = &item.block;
    let closure_head = quote!(|#conn: &mut #conn_target|);
    let (run, run_retrying) = (quote!(run), quote!(run_retrying));
    let call = match retry {
        None => {
            // An error type lacking `From<TxError>` is reported at the return type.
            let span = syn::spanned::Spanned::span(&output);
            let private = private_at(span);
            quote_spanned!(span=> #private::tx::#run(#conn_arg, &#options_const, #body_fn))
        }
        Some(retry) => {
            let n = retry.times;
            let private = private_at(retry.span);
            quote_spanned!(retry.span=> #private::tx::#run_retrying(#conn_arg, &#options_const, #n, #body_fn))
        }
    };

    let new_block = quote! {{
        const #options_const: #private::tx::Options = #builder;
        let #body_fn = #closure_head -> #output #block;
        #call
    }};
    *item.block = syn::parse_quote!(#new_block);
    quote!(#item)
}

/// `.nested(tx::Nested::Join)`: the builder call of the runtime's `tx::Options` that sets a
/// [`Choice`] option (the method is named as the option, the enum as in the runtime).
fn setter<C: Choice>(private: &TokenStream, value: C) -> TokenStream {
    let method = Ident::new(C::OPTION, Span::call_site());
    let kind = Ident::new(C::RUNTIME_ENUM, Span::call_site());
    let variant = Ident::new(value.variant(), Span::call_site());
    quote!(.#method(#private::tx::#kind::#variant))
}

struct AsyncParts<'a> {
    private: &'a TokenStream,
    private_at: &'a dyn Fn(Span) -> TokenStream,
    options_const: &'a Ident,
    options: &'a TokenStream,
    conn: &'a Ident,
    conn_target: &'a syn::Type,
    conn_arg: &'a TokenStream,
    output: &'a syn::Type,
    block: &'a syn::Block,
    retry: Option<(u32, Span)>,
}

/// An `async fn`: the async runner's loop inline, the body an `async` block of the function
/// itself (not a generic async closure), so rustc proves the future `Send` from concrete types:
///
/// ```text
/// let mut tx = AsyncTransaction::new(&OPTIONS, conn);       // ::retrying(&OPTIONS, conn, N)
/// while tx.next_body().await {
///     let result = catch_unwind::<Output, _>(async { let conn = tx.conn(); <block> }).await;
///     tx.returned(result);
/// }
/// tx.finish()
/// ```
fn expand_async(parts: AsyncParts<'_>) -> TokenStream {
    let AsyncParts {
        private,
        private_at,
        options_const,
        options,
        conn,
        conn_target,
        conn_arg,
        output,
        block,
        retry,
    } = parts;
    let tx = Ident::new("__keel_tx", Span::mixed_site());
    let result = Ident::new("__keel_result", Span::mixed_site());
    // A connection that is not one, or an error type lacking `From<TxError>` (or the
    // connection's error), is reported where `next_body` is called: at the return type; a
    // missing `Transient` at `retry = N`.
    let output_span = syn::spanned::Spanned::span(output);
    let output_private = private_at(output_span);
    let new = match retry {
        None => quote!(#private::tx::AsyncTransaction::new(&#options_const, #conn_arg)),
        Some((n, span)) => {
            let retry_private = private_at(span);
            quote_spanned!(span=> #retry_private::tx::AsyncTransaction::retrying(&#options_const, #conn_arg, #n))
        }
    };
    let next_body = quote_spanned!(output_span=> #tx.next_body().await);
    quote! {{
        const #options_const: #private::tx::Options = #options;
        let mut #tx = #new;
        while #next_body {
            let #result = #output_private::tx::catch_unwind::<#output, _>(async {
                let #conn: &mut #conn_target = #tx.conn();
                #block
            })
            .await;
            #tx.returned(#result);
        }
        #tx.finish()
    }}
}
