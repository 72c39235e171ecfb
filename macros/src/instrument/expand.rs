//! Expand: one instrumented function body, and the walk over impl blocks and modules.

use super::model::Options;
use super::parse::take_instrument_attribute;
use super::validate::{self, is_never, is_unit};
use crate::common::crate_path::CratePath;
use crate::common::errors::Errors;
use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, ImplItem, Item, ItemImpl, ItemMod, ItemTrait, ReturnType, Signature, TraitItem};

/// How a function's qualified name is formed (beyond `module_path!()`).
#[derive(Clone)]
pub enum Naming {
    /// `module::function`.
    Function,
    /// `module::Type::method`, the type known from the enclosing impl block or trait.
    Within(String),
    /// `module::Type::method` with `Type` read from `Self` at run time (a method instrumented on
    /// its own: the macro cannot see the impl block).
    FromSelf,
}

/// The new body of an instrumented function.
pub fn instrument_block(
    sig: &Signature,
    block: &Block,
    options: &Options,
    naming: &Naming,
    krate: &CratePath,
) -> Block {
    let trace = {
        let private = krate.private();
        quote!(#private::trace)
    };
    let ident = &sig.ident;
    let function = function_label(sig);
    let function = function.as_str();
    let name = match (&options.name, naming) {
        (Some(name), _) => name.to_token_stream(),
        (None, Naming::Within(owner)) => {
            let qualified = format!("{owner}::{function}");
            quote!(::core::concat!(::core::module_path!(), "::", #qualified))
        }
        (None, Naming::Function | Naming::FromSelf) => {
            quote!(::core::concat!(::core::module_path!(), "::", #function))
        }
    };
    let named_by_self = matches!((&options.name, naming), (None, Naming::FromSelf));
    let self_type = if named_by_self {
        quote!(::core::option::Option::Some(
            ::core::any::type_name::<Self> as fn() -> &'static str
        ))
    } else {
        quote!(::core::option::Option::None)
    };
    let file = quote_spanned!(ident.span()=> ::core::file!());
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let args = options.args.iter().map(|arg| {
        let label = arg.to_string();
        quote_spanned!(arg.span()=> (#label, &#arg as &dyn ::core::fmt::Debug))
    });
    let private = krate.private();
    // A synchronous body's span is finished in place (`finish_in_place(&mut span)`): a move
    // into `finish(self)` would copy it through memory. An async body's span is moved into
    // `Span::scope` and comes back bound anew; a body that never returns never finishes it.
    let mutability = if is_never(&sig.output) || sig.asyncness.is_some() {
        quote!()
    } else {
        quote!(mut)
    };
    let enter = quote! {
        static __KEEL_CALL_SITE: #trace::CallSite = #trace::CallSite::new(
            #name,
            ::core::module_path!(),
            #file,
            #line,
        );
        // Known before the first call, so `KEEL_TRACE` can say when a directive matches nothing.
        #private::inventory::submit! {
            #trace::Registration::new(&__KEEL_CALL_SITE, #named_by_self)
        }
        let #mutability __keel_span = #trace::enter(&__KEEL_CALL_SITE, #self_type, &[#(#args),*]);
    };

    let is_async = sig.asyncness.is_some();
    let body = if is_never(&sig.output) && is_async {
        // Entered per poll like any async call; it never completes, so nothing to finish.
        quote! {
            #enter
            let (_, __keel_never) = #trace::Span::scope(
                __keel_span,
                #trace::run_async::<::core::convert::Infallible, _>(async move #block),
            ).await;
            match __keel_never {}
        }
    } else if is_never(&sig.output) {
        // Nothing to time on return: the span's drop reports a panic.
        quote!(#enter #block)
    } else {
        let value_type = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) if mentions_impl_trait(ty) => quote!(_),
            ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        // An async body runs inside `Span::scope`: the call is current during each poll only,
        // and the span comes back with the value, still current, to be finished.
        // (A unit value is matched by `()` rather than bound, which clippy would flag.)
        let value = if is_unit(&sig.output) {
            quote!(())
        } else {
            quote!(__keel_value)
        };
        let run = if is_async {
            quote! {
                let (mut __keel_span, #value) = #trace::Span::scope(
                    __keel_span,
                    #trace::run_async::<#value_type, _>(async move #block),
                ).await;
            }
        } else {
            quote!(let #value = #trace::run::<#value_type, _>(move || #block);)
        };
        if is_unit(&sig.output) {
            quote! {
                #enter
                #run
                __keel_span.finish_in_place(#trace::Outcome::Ok);
            }
        } else {
            let outcome = match &options.err {
                Some(err) => {
                    let check = if err.debug {
                        quote!(err_outcome_debug)
                    } else {
                        quote!(err_outcome_display)
                    };
                    let span = err.keyword.span();
                    quote_spanned!(span=> let __keel_outcome = #trace::#check(&__keel_value);)
                }
                None => quote! {
                    #[allow(unused_imports)]
                    use #trace::{ErrDebug as _, ErrDisplay as _, ErrOpaque as _, NotResult as _};
                    #[allow(clippy::needless_borrow)] // the borrows pick the impl
                    let __keel_outcome = (&&&&#trace::OutcomeOf(&__keel_value)).keel_outcome();
                },
            };
            let finish = match &options.ret {
                Some(ret) => {
                    let value =
                        quote_spanned!(ret.span()=> &__keel_value as &dyn ::core::fmt::Debug);
                    quote!(__keel_span.finish_in_place_with_value(__keel_outcome, #value);)
                }
                None => quote!(__keel_span.finish_in_place(__keel_outcome);),
            };
            quote! {
                #enter
                #run
                if __keel_span.is_active() {
                    #outcome
                    #finish
                }
                __keel_value
            }
        }
    };
    Block {
        brace_token: block.brace_token,
        stmts: vec![syn::Stmt::Item(Item::Verbatim(body))],
    }
}

/// Whether `Self` appears in the signature (so the function lives in an impl or trait).
pub fn mentions_self(sig: &Signature) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "Self" || ident == "self",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(sig.inputs.to_token_stream()) || walk(sig.output.to_token_stream())
}

/// Whether `impl Trait` appears anywhere in `ty` (then the type cannot be named in the body).
fn mentions_impl_trait(ty: &syn::Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// `Repo` for `impl<T> Repo<T>`, `Display` … for `impl Display for Repo` it is `Repo` too.
fn type_label(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default(),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// What the attribute found on an item inside a container says about it.
enum Directive {
    /// No attribute: the container's defaults.
    Inherit,
    /// `#[keel::instrument(..)]` on the item itself.
    Explicit(Options),
    /// `#[keel::instrument(skip)]`.
    Skip,
}

fn directive(
    attrs: &mut Vec<syn::Attribute>,
    krate: &CratePath,
    errors: &mut Errors,
) -> Option<Directive> {
    match take_instrument_attribute(attrs, krate) {
        None => Some(Directive::Inherit),
        Some(Err(error)) => {
            errors.push(error);
            None
        }
        Some(Ok((options, _))) if options.skip.is_some() => {
            let others = options.args_keyword.is_some()
                || options.ret.is_some()
                || options.err.is_some()
                || options.name.is_some();
            if let (true, Some(skip)) = (others, &options.skip) {
                errors.push_spanned(skip, "`skip` leaves the item untouched: it cannot be combined with `args`, `ret`, `err` or `name`");
            }
            Some(Directive::Skip)
        }
        Some(Ok((options, _))) => Some(Directive::Explicit(options)),
    }
}

/// `owner` inside `scope` (the function whose body declares it), or `owner` alone.
fn scoped(scope: Option<&str>, owner: String) -> String {
    match scope {
        Some(scope) => format!("{scope}::{owner}"),
        None => owner,
    }
}

/// Instruments every function of an impl block (const fns excepted). `scope` names the function
/// whose body declares the block, if any.
pub fn rewrite_impl(
    item: &mut ItemImpl,
    scope: Option<&str>,
    krate: &CratePath,
    errors: &mut Errors,
) {
    let naming = Naming::Within(scoped(scope, type_label(&item.self_ty)));
    for member in &mut item.items {
        let ImplItem::Fn(method) = member else {
            continue;
        };
        rewrite_fn(
            &mut method.attrs,
            &method.vis,
            &mut method.sig,
            &mut method.block,
            &naming,
            krate,
            errors,
        );
    }
}

/// Instruments the default methods of a trait definition found inside an instrumented module.
fn rewrite_trait(
    item: &mut ItemTrait,
    scope: Option<&str>,
    krate: &CratePath,
    errors: &mut Errors,
) {
    let naming = Naming::Within(scoped(scope, item.ident.to_string()));
    for member in &mut item.items {
        let TraitItem::Fn(method) = member else {
            continue;
        };
        if let Some(block) = &mut method.default {
            rewrite_fn(
                &mut method.attrs,
                &syn::Visibility::Inherited,
                &mut method.sig,
                block,
                &naming,
                krate,
                errors,
            );
        } else if let Some(Directive::Explicit(_)) = directive(&mut method.attrs, krate, errors) {
            errors.push_spanned(
                &method.sig.ident,
                "`#[keel::instrument]` needs a function body; this trait method has none",
            );
        }
    }
}

/// Instruments every function of an inline module, its impl blocks, trait default methods and
/// nested inline modules (and, through each function, the items its body declares).
pub fn rewrite_mod(item: &mut ItemMod, krate: &CratePath, errors: &mut Errors) {
    let Some((_, items)) = &mut item.content else {
        return;
    };
    for member in items {
        rewrite_item(member, None, krate, errors);
    }
}

/// Instruments one item of an instrumented container: a fn, an impl block, a trait's default
/// methods or an inline module. `scope` names the function whose body declares the item, if
/// any. Returns `false` for any other kind of item, which it leaves alone.
fn rewrite_item(
    item: &mut Item,
    scope: Option<&str>,
    krate: &CratePath,
    errors: &mut Errors,
) -> bool {
    match item {
        Item::Fn(function) => {
            let naming = match scope {
                Some(scope) => Naming::Within(scope.to_owned()),
                None => Naming::Function,
            };
            rewrite_fn(
                &mut function.attrs,
                &function.vis,
                &mut function.sig,
                &mut function.block,
                &naming,
                krate,
                errors,
            );
        }
        Item::Impl(nested) => {
            if let Some(krate) = container_directive(&mut nested.attrs, krate, "impl block", errors)
            {
                rewrite_impl(nested, scope, &krate, errors);
            }
        }
        Item::Trait(nested) => {
            if let Some(krate) = container_directive(&mut nested.attrs, krate, "trait", errors) {
                rewrite_trait(nested, scope, &krate, errors);
            }
        }
        Item::Mod(nested) if nested.content.is_some() => {
            if let Some(krate) = container_directive(&mut nested.attrs, krate, "module", errors) {
                rewrite_mod(nested, &krate, errors);
            }
        }
        _ => return false,
    }
    true
}

/// For a nested container: `None` when skipped, else the crate path to use inside it.
fn container_directive(
    attrs: &mut Vec<syn::Attribute>,
    krate: &CratePath,
    what: &str,
    errors: &mut Errors,
) -> Option<CratePath> {
    match directive(attrs, krate, errors)? {
        Directive::Skip => None,
        Directive::Inherit => Some(krate.clone()),
        Directive::Explicit(options) => {
            validate::check_container_options(&options, what, errors);
            Some(options.krate.unwrap_or_else(|| krate.clone()))
        }
    }
}

fn rewrite_fn(
    attrs: &mut Vec<syn::Attribute>,
    vis: &syn::Visibility,
    sig: &mut Signature,
    block: &mut Block,
    naming: &Naming,
    krate: &CratePath,
    errors: &mut Errors,
) {
    let (options, explicit) = match directive(attrs, krate, errors) {
        None | Some(Directive::Skip) => return,
        Some(Directive::Inherit) => (Options::default(), false),
        Some(Directive::Explicit(options)) => (options, true),
    };
    if sig.constness.is_some() && !explicit {
        return; // documented: const fns are left alone
    }
    let before = errors.is_empty();
    validate::check_fn(sig, &options, explicit, errors);
    if before && !errors.is_empty() {
        return;
    }
    let krate = options.krate.clone().unwrap_or_else(|| krate.clone());
    if !super::transaction_order::expand_transaction_first(attrs, vis, sig, block, &krate) {
        return; // the transaction attribute, left in place, reports its mistakes itself
    }
    let function = function_label(sig);
    let scope = match naming {
        Naming::Within(owner) => format!("{owner}::{function}"),
        Naming::Function | Naming::FromSelf => function,
    };
    rewrite_nested(block, &scope, &krate, errors);
    *block = instrument_block(sig, block, &options, naming, &krate);
}

/// The function's name as written in traces: its identifier without a raw `r#` prefix.
fn function_label(sig: &Signature) -> String {
    let name = sig.ident.to_string();
    match name.strip_prefix("r#") {
        Some(bare) => bare.to_owned(),
        None => name,
    }
}

/// Instruments the items a function body declares (in any of its blocks, closures included):
/// `fn`s, impl blocks, traits and inline modules, as an instrumented container reaches every
/// function written inside it. A nested `fn inner` of `fn outer` is named `module::outer::inner`.
fn rewrite_nested(block: &mut Block, scope: &str, krate: &CratePath, errors: &mut Errors) {
    struct Nested<'a> {
        scope: &'a str,
        krate: &'a CratePath,
        errors: &'a mut Errors,
    }
    impl VisitMut for Nested<'_> {
        fn visit_item_mut(&mut self, item: &mut Item) {
            // A rewritten item walks its own bodies in turn; other items (a `const`'s
            // initialiser, say) are visited for the functions they may hold.
            if !rewrite_item(item, Some(self.scope), self.krate, self.errors) {
                visit_mut::visit_item_mut(self, item);
            }
        }
    }
    Nested {
        scope,
        krate,
        errors,
    }
    .visit_block_mut(block);
}
