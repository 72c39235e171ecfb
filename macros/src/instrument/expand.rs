//! Expand: one instrumented function body, and the walk over impl blocks and modules.

use super::model::Options;
use super::parse::take_instrument_attribute;
use super::validate;
use crate::common::crate_path::CratePath;
use crate::common::errors::Errors;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, ImplItem, Item, ItemImpl, ItemMod, ItemTrait, Signature, TraitItem};

pub use keel_transform::Naming;
pub use keel_transform::body::mentions_self;
use keel_transform::body::{function_label, type_label};
use keel_transform::{BodyOptions, Runtime, body::ErrChoice};

/// The new body of an instrumented function: the shared transform
/// ([`keel_transform::body::instrument_block`]) with keel's runtime at `<crate>::__private`.
pub fn instrument_block(
    sig: &Signature,
    block: &Block,
    options: &Options,
    naming: &Naming,
    krate: &CratePath,
) -> Block {
    let body = BodyOptions {
        args: &options.args,
        ret: options.ret.as_ref(),
        err: options.err.as_ref().map(|err| ErrChoice {
            keyword: &err.keyword,
            debug: err.debug,
        }),
        name: options.name.as_ref(),
    };
    let runtime = Runtime::Keel {
        private: krate.private(),
    };
    keel_transform::body::instrument_block(sig, block, &body, naming, &runtime)
}

/// What the attribute found on an item inside a container says about it.
enum Directive {
    /// No attribute: the container's defaults.
    Inherit,
    /// `#[keel::instrument(..)]` on the item itself (boxed: options hold spans, which are
    /// large where proc-macro2's span locations are on, as `cargo keel` turns them on).
    Explicit(Box<Options>),
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
        Some(Ok((options, _))) => Some(Directive::Explicit(Box::new(options))),
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
        Some(Directive::Explicit(options)) => (*options, true),
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
