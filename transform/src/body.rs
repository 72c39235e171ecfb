//! One instrumented function body, for either runtime.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::{Block, Ident, Item, LitStr, ReturnType, Signature, Type};

/// What the generated code calls.
#[derive(Clone)]
pub enum Runtime {
    /// keel's own runtime, for `#[keel::instrument]`: `private` is `<crate>::__private`
    /// (`trace` and `inventory` are reached through it).
    Keel {
        /// `::keel::__private`, or the `crate = path` the user gave followed by `::__private`.
        private: TokenStream,
    },
    /// A dependency rewritten by `cargo keel`: `shim` is the path of the shim crate
    /// (`::keel_foreign_shim`). No `Debug` bound is assumed, so no arguments are recorded, and
    /// an `Err` is reported by its type name only.
    Foreign {
        /// The path of the shim crate.
        shim: TokenStream,
    },
}

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

/// `err` / `err(Debug)` of `#[keel::instrument]`.
#[derive(Clone, Copy)]
pub struct ErrChoice<'a> {
    /// The `err` keyword (errors about it point here).
    pub keyword: &'a Ident,
    /// `err(Debug)`.
    pub debug: bool,
}

/// The options that shape a body (the attribute's others stay in the macro).
#[derive(Clone, Copy, Default)]
pub struct BodyOptions<'a> {
    /// `args(x, y)`: parameters recorded on entry (keel's runtime only).
    pub args: &'a [Ident],
    /// `ret`: record the return value (keel's runtime only).
    pub ret: Option<&'a Ident>,
    /// `err` / `err(Debug)` (keel's runtime only).
    pub err: Option<ErrChoice<'a>>,
    /// `name = ".."`: the qualified name events report.
    pub name: Option<&'a LitStr>,
}

/// The new body of an instrumented function.
pub fn instrument_block(
    sig: &Signature,
    block: &Block,
    options: &BodyOptions<'_>,
    naming: &Naming,
    runtime: &Runtime,
) -> Block {
    let body = match runtime {
        Runtime::Keel { private } => keel_body(sig, block, options, naming, private),
        Runtime::Foreign { shim } => foreign_body(sig, block, options, naming, shim),
    };
    Block {
        brace_token: block.brace_token,
        stmts: vec![syn::Stmt::Item(Item::Verbatim(body))],
    }
}

fn qualified_name(sig: &Signature, options: &BodyOptions<'_>, naming: &Naming) -> TokenStream {
    let function = function_label(sig);
    let function = function.as_str();
    match (options.name, naming) {
        (Some(name), _) => name.to_token_stream(),
        (None, Naming::Within(owner)) => {
            let qualified = format!("{owner}::{function}");
            quote!(::core::concat!(::core::module_path!(), "::", #qualified))
        }
        (None, Naming::Function | Naming::FromSelf) => {
            quote!(::core::concat!(::core::module_path!(), "::", #function))
        }
    }
}

/// The type the body's closure or async block returns, as the turbofish of `run` names it.
fn value_type(sig: &Signature) -> TokenStream {
    match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) if mentions_impl_trait(ty) => quote!(_),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    }
}

fn keel_body(
    sig: &Signature,
    block: &Block,
    options: &BodyOptions<'_>,
    naming: &Naming,
    private: &TokenStream,
) -> TokenStream {
    let trace = quote!(#private::trace);
    let ident = &sig.ident;
    let name = qualified_name(sig, options, naming);
    let named_by_self = matches!((options.name, naming), (None, Naming::FromSelf));
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
        // Typed where the argument's type has a typed form (integers, `f64`, `bool`,
        // strings), by autoref specialisation; `Debug` otherwise.
        quote_spanned!(arg.span()=> (#label, {
            #[allow(unused_imports)]
            use #trace::{FieldDebug as _, FieldTyped as _};
            #trace::Field(&#arg).__keel_value(&#arg as &dyn ::core::fmt::Debug)
        }))
    });
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
    if is_never(&sig.output) && is_async {
        // Entered per poll like any async call; it never completes, so nothing to finish.
        return quote! {
            #enter
            let (_, __keel_never) = #trace::Span::scope(
                __keel_span,
                #trace::run_async::<::core::convert::Infallible, _>(async move #block),
            ).await;
            match __keel_never {}
        };
    }
    if is_never(&sig.output) {
        // Nothing to time on return: the span's drop reports a panic.
        return quote!(#enter #block);
    }
    let value_type = value_type(sig);
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
        return quote! {
            #enter
            #run
            __keel_span.finish_in_place(#trace::Outcome::Ok);
        };
    }
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
    let finish = match options.ret {
        Some(ret) => {
            let value = quote_spanned!(ret.span()=> {
                #[allow(unused_imports)]
                use #trace::{FieldDebug as _, FieldTyped as _};
                #trace::Field(&__keel_value)
                    .__keel_value(&__keel_value as &dyn ::core::fmt::Debug)
            });
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

/// A dependency's body: the same shape (a closure for a plain fn, an `async move` block inside
/// a scope for an `async fn`, the body itself for `-> !`), calling the shim crate. No `unsafe`
/// is generated (an `unsafe fn`'s body keeps its unsafe context through an `unsafe` block the
/// crate already allows, since it declares unsafe fns).
fn foreign_body(
    sig: &Signature,
    block: &Block,
    options: &BodyOptions<'_>,
    naming: &Naming,
    shim: &TokenStream,
) -> TokenStream {
    let name = qualified_name(sig, options, naming);
    let block = if matches!(sig.safety, syn::Safety::Unsafe(_)) {
        quote!({ #[allow(unused_unsafe)] unsafe #block })
    } else {
        block.to_token_stream()
    };
    let enter = quote! {
        static __KEEL_SITE: #shim::Site = #shim::Site::new(
            #name,
            ::core::module_path!(),
            ::core::file!(),
            ::core::line!(),
        );
        // Made and entered in place: the shim's span holds the runtime's in a slot.
        let mut __keel_span = #shim::Span::off();
        __keel_span.enter(&__KEEL_SITE);
    };
    let is_async = sig.asyncness.is_some();
    if is_never(&sig.output) && is_async {
        return quote! {
            #enter
            let (_, __keel_never) = #shim::scope(
                __keel_span,
                #shim::run_async::<::core::convert::Infallible, _>(async move #block),
            ).await;
            match __keel_never {}
        };
    }
    if is_never(&sig.output) {
        return quote!(#enter #block);
    }
    let value_type = value_type(sig);
    let run = if is_async {
        quote! {
            let (mut __keel_span, __keel_value) = #shim::scope(
                __keel_span,
                #shim::run_async::<#value_type, _>(async move #block),
            ).await;
        }
    } else {
        quote!(let __keel_value = #shim::run::<#value_type, _>(move || #block);)
    };
    quote! {
        #enter
        #run
        #[allow(unused_imports)]
        use #shim::{IsResult as _, NotResult as _};
        __keel_span.exit((&#shim::OutcomeOf(&__keel_value)).keel_outcome());
        __keel_value
    }
}

/// The text a dependency's body is wrapped in, around the body as written: `cargo keel` inserts
/// `before` just before the body's `{` and `after` just after its `}`, leaving every line of the
/// original source where it was (so `line!()`, panics and debuggers still point at the crate's
/// own lines). Neither part contains a line break.
///
/// ```
/// let sig: syn::Signature = syn::parse_str("fn f() -> u8").unwrap();
/// let shim = quote::quote!(::keel_foreign_shim);
/// let (before, after) = keel_transform::body::foreign_wrapping(&sig, &keel_transform::Naming::Function, &shim);
/// assert!(before.contains("keel_foreign_shim :: run") && after.contains("exit"));
/// assert!(!before.contains('\n') && !after.contains('\n'));
/// ```
pub fn foreign_wrapping(sig: &Signature, naming: &Naming, shim: &TokenStream) -> (String, String) {
    let placeholder: Block = syn::parse_quote!({ __keel_original_body });
    let runtime = Runtime::Foreign { shim: shim.clone() };
    let block = instrument_block(sig, &placeholder, &BodyOptions::default(), naming, &runtime);
    let text = block.to_token_stream().to_string().replace('\n', " ");
    let marker = placeholder.to_token_stream().to_string();
    match text.split_once(&marker) {
        Some((before, after)) => (before.to_owned(), after.to_owned()),
        None => unreachable!("the placeholder body appears once in its own wrapping"),
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
fn mentions_impl_trait(ty: &Type) -> bool {
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
pub fn type_label(ty: &Type) -> String {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default(),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// The function's name as written in traces: its identifier without a raw `r#` prefix.
pub fn function_label(sig: &Signature) -> String {
    let name = sig.ident.to_string();
    match name.strip_prefix("r#") {
        Some(bare) => bare.to_owned(),
        None => name,
    }
}

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip_group(&group.elem),
        Type::Paren(paren) => strip_group(&paren.elem),
        other => other,
    }
}

/// `()` or no return type.
pub fn is_unit(output: &ReturnType) -> bool {
    match output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(strip_group(ty), Type::Tuple(t) if t.elems.is_empty()),
    }
}

/// `-> !`.
pub fn is_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(strip_group(ty), Type::Never(_)))
}
