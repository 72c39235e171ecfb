//! Code generation for `#[derive(Bounded)]`.
//!
//! Every check is written inline as plain comparisons against private associated consts, so the
//! hot path (`set_port`) is exactly the `if` a person would write; building the error is a call
//! to the runtime's `#[cold]` [`Bounds::rejection`](../../keel_runtime/bounds/struct.Bounds.html).

use super::model::{Bound, Bounded, Field, Record, Shape};
use crate::common::bounds::{BoundsKey, Side, bounds_const as bounds_const_item};
use crate::common::primitive::Primitive;
use crate::common::range::ConstValue;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

/// Generates the impls for a validated model.
pub fn expand(model: &Bounded) -> TokenStream {
    match &model.shape {
        Shape::Newtype(bound) => newtype(model, bound),
        Shape::Record(record) => record_impl(model, record),
    }
}

/// The generated pieces for one range.
struct Checked {
    /// Private bound consts, the in-bounds test and the public `Bounds` const.
    items: TokenStream,
    /// The public `Bounds<T>` const (`PORT_BOUNDS`, `BOUNDS`).
    bounds_const: Ident,
    /// The private lower / upper bound consts, when written.
    lo_const: Option<Ident>,
    hi_const: Option<Ident>,
    /// The in-bounds test; `None` when the range admits every value of the type.
    test_fn: Option<Ident>,
    /// Whether the test (and so `new_const`) works in const context.
    is_const: bool,
}

/// The consts and in-bounds test of one range; `key` names them (`PORT_BOUNDS`,
/// `__KEEL_PORT_LO`, `__keel_port_in_bounds`).
fn checked(krate_private: &TokenStream, bound: &Bound, key: &BoundsKey, doc: &str) -> Checked {
    let ty = &bound.ty;
    let span = ty.span();
    let range = &bound.range;
    let lo_const = range.lo.as_ref().map(|_| private_const(key, "LO"));
    let hi_const = range.hi.as_ref().map(|_| private_const(key, "HI"));
    let mut items = TokenStream::new();
    if let (Some(name), Some(expr)) = (&lo_const, &range.lo) {
        items.extend(quote_spanned!(expr.span()=> const #name: #ty = #expr;));
    }
    if let (Some(name), Some(expr)) = (&hi_const, &range.hi) {
        items.extend(quote_spanned!(expr.span()=> const #name: #ty = #expr;));
    }

    // The comparisons, skipping a side that is the integer type's own limit.
    let type_limits = bound.primitive.and_then(Primitive::int_range);
    let evaluated = |expr: &Option<syn::Expr>| match expr.as_ref().and_then(ConstValue::eval) {
        Some(ConstValue::Int(v, _)) => Some(v),
        _ => None,
    };
    let mut parts = Vec::new();
    if bound.primitive.is_none() {
        // A value unordered with itself (a NaN inside a user type) is never in bounds,
        // exactly as `Bounds::violation` decides.
        parts.push(quote_spanned!(span=>
            ::core::option::Option::is_some(&::core::cmp::PartialOrd::partial_cmp(&value, &value))
        ));
    }
    if let Some(lo) = &lo_const {
        let redundant = type_limits.is_some_and(|(min, _)| evaluated(&range.lo) == Some(min));
        if !redundant {
            parts.push(quote_spanned!(span=> value >= Self::#lo));
        }
    }
    if let Some(hi) = &hi_const {
        let redundant = range.inclusive
            && type_limits.is_some_and(|(_, max)| evaluated(&range.hi) == Some(max));
        if !redundant {
            parts.push(if range.inclusive {
                quote_spanned!(span=> value <= Self::#hi)
            } else {
                quote_spanned!(span=> value < Self::#hi)
            });
        }
    }
    let is_const = bound.primitive.is_some();
    let test_fn = (!parts.is_empty()).then(|| test_fn(key));
    if let Some(test) = &test_fn {
        let constness = is_const.then(|| quote!(const));
        items.extend(quote_spanned!(span=>
            #[inline(always)]
            #constness fn #test(value: #ty) -> bool {
                #(#parts)&&*
            }
        ));
    }

    let bounds_const = key.bounds_const();
    let side = |name: &Option<Ident>, included: bool| {
        name.as_ref().map(|name| Side {
            value: quote!(Self::#name),
            included,
        })
    };
    items.extend(bounds_const_item(
        krate_private,
        quote!(#[doc = #doc] pub),
        &bounds_const,
        ty,
        side(&lo_const, true),
        side(&hi_const, range.inclusive),
    ));
    Checked {
        items,
        bounds_const,
        lo_const,
        hi_const,
        test_fn,
        is_const,
    }
}

/// The private names of one range, after the shared scheme: `__KEEL_PORT_LO`,
/// `__keel_port_in_bounds`.
fn private_const(key: &BoundsKey, side: &str) -> Ident {
    format_ident!("__KEEL_{}{}", key.prefix(), side)
}

fn test_fn(key: &BoundsKey) -> Ident {
    format_ident!("__keel_{}in_bounds", key.prefix().to_lowercase())
}

/// `if !Self::test(value) { <on_fail(value)> }`, or nothing when every value is in bounds. On an
/// `Option` field the test applies to the value inside `Some` (`None` always passes), and
/// `on_fail` receives that inner value.
fn guard(
    checked: &Checked,
    bound: &Bound,
    value: &TokenStream,
    on_fail: impl Fn(&TokenStream) -> TokenStream,
) -> TokenStream {
    let Some(test) = &checked.test_fn else {
        return TokenStream::new();
    };
    if bound.optional {
        let inner = quote!(__keel_value);
        let fail = on_fail(&inner);
        quote! {
            if let ::core::option::Option::Some(#inner) = #value {
                if !Self::#test(#inner) { #fail }
            }
        }
    } else {
        let fail = on_fail(value);
        quote!(if !Self::#test(#value) { #fail })
    }
}

/// The `#[cold]` construction of the error for `value`.
fn rejection(
    checked: &Checked,
    bound: &Bound,
    value: &TokenStream,
    type_name: &str,
    field: Option<&str>,
) -> TokenStream {
    let bounds = &checked.bounds_const;
    let field = match field {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    quote_spanned!(bound.ty.span()=> Self::#bounds.rejection(#value, #type_name, #field))
}

/// Lints that generated code trips by construction: helpers unused by a private type,
/// comparisons against a user const that happens to equal the type's limit, `a <= v && v <= b`,
/// and `try_new` taking one argument per field.
fn allows() -> TokenStream {
    quote! {
        #[allow(
            dead_code,
            clippy::absurd_extreme_comparisons,
            clippy::manual_range_contains,
            clippy::too_many_arguments
        )]
    }
}

fn newtype(model: &Bounded, bound: &Bound) -> TokenStream {
    let private = model.krate.private();
    let ident = &model.ident;
    let vis = &model.vis;
    let ty = &bound.ty;
    let type_name = ident.unraw().to_string();
    let range_text = bound.range.text();
    let checked = checked(
        &private,
        bound,
        &BoundsKey::Newtype,
        &format!("The bounds every `{type_name}` lies within: `{range_text}`."),
    );
    let items = &checked.items;
    let value = quote!(value);

    let min = match (&checked.lo_const, bound.is_integer(), bound.is_float()) {
        (Some(lo), ..) => Some(quote!(Self::#lo)),
        (None, true, _) => Some(quote!(<#ty>::MIN)),
        (None, _, true) => Some(quote!(<#ty>::NEG_INFINITY)),
        _ => None,
    };
    let max = match (&checked.hi_const, bound.range.inclusive) {
        (Some(hi), true) => Some(quote!(Self::#hi)),
        (Some(hi), false) if bound.is_integer() => Some(quote!(Self::#hi - 1)),
        (None, _) if bound.is_integer() => Some(quote!(<#ty>::MAX)),
        (None, _) if bound.is_float() => Some(quote!(<#ty>::INFINITY)),
        _ => None,
    };
    let min = min.map(|expr| {
        let doc = format!("The smallest `{type_name}`.");
        quote!(#[doc = #doc] #vis const MIN: Self = Self(#expr);)
    });
    let max = max.map(|expr| {
        let doc = format!("The largest `{type_name}`.");
        quote!(#[doc = #doc] #vis const MAX: Self = Self(#expr);)
    });

    let try_guard = guard(&checked, bound, &value, |value| {
        let reject = rejection(&checked, bound, value, &type_name, None);
        quote!(return ::core::result::Result::Err(#reject);)
    });
    let try_new_doc = format!(
        "A `{type_name}` holding `value`, or a [`BoundsError`]({}::BoundsError) when `value` is \
         outside `{range_text}` (or NaN).",
        model.krate.path().to_token_stream_string()
    );
    let new_const = checked.is_const.then(|| {
        let message = panic_message(&format!(
            "{type_name}::new_const: the value must be in {range_text}"
        ));
        let const_guard = guard(
            &checked,
            bound,
            &value,
            |_| quote!(::core::panic!(#message);),
        );
        let doc = format!(
            "A `{type_name}` from a value known when compiling: panics if `value` is outside \
             `{range_text}`, which in a `const` is a compile error."
        );
        quote! {
            #[doc = #doc]
            #[inline]
            #[track_caller]
            #vis const fn new_const(value: #ty) -> Self {
                #const_guard
                Self(value)
            }
        }
    });
    let get_doc = format!("The value inside, always within `{range_text}`.");
    // Only a primitive is known to implement serde's traits; a newtype over a user type gets its
    // serde impls from `#[serde(try_from = "Inner", into = "Inner")]` and the conversions below.
    let serde = bound
        .primitive
        .is_some()
        .then(|| quote!(#private::bounded_newtype_serde!(#ident, #ty);));
    // A newtype over a number is also a `Compact` field type: integers up to 64 bits are packed
    // to their range, floats keep their width; other inner types have no column to go in.
    let compact = match bound.primitive {
        Some(p) if p.is_float() => {
            Some(quote!(#private::bounded_newtype_compact!(float #ident, #ty);))
        }
        Some(Primitive::I128 | Primitive::U128) | None => None,
        Some(_) => Some(quote!(#private::bounded_newtype_compact!(int #ident, #ty);)),
    };
    let allows = allows();

    quote! {
        #allows
        impl #ident {
            #items
            #min
            #max

            #[doc = #try_new_doc]
            #[inline]
            #vis fn try_new(value: #ty) -> ::core::result::Result<Self, #private::BoundsError> {
                #try_guard
                ::core::result::Result::Ok(Self(value))
            }

            #new_const

            #[doc = #get_doc]
            #[inline]
            #vis const fn get(self) -> #ty {
                self.0
            }
        }

        impl ::core::convert::TryFrom<#ty> for #ident {
            type Error = #private::BoundsError;
            #[inline]
            fn try_from(value: #ty) -> ::core::result::Result<Self, Self::Error> {
                Self::try_new(value)
            }
        }

        impl ::core::convert::From<#ident> for #ty {
            #[inline]
            fn from(value: #ident) -> Self {
                value.0
            }
        }

        #serde
        #compact
    }
}

trait PathText {
    fn to_token_stream_string(&self) -> String;
}

impl PathText for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote!(#self).to_string().replace(' ', "")
    }
}

/// Escapes braces so the text can be a `panic!` format string.
fn panic_message(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

fn record_impl(model: &Bounded, record: &Record) -> TokenStream {
    let private = model.krate.private();
    let ident = &model.ident;
    let vis = &model.vis;
    let type_name = ident.unraw().to_string();
    let (impl_generics, ty_generics, where_clause) = model.generics.split_for_impl();
    let error = quote!(#private::BoundsError);
    let result = |ok: TokenStream| quote!(::core::result::Result<#ok, #error>);

    let mut items = TokenStream::new();
    let mut try_guards = TokenStream::new();
    let mut const_guards = TokenStream::new();
    let mut validations = TokenStream::new();
    let mut all_const = true;

    for field in &record.fields {
        let Some(bound) = &field.bound else { continue };
        let key = match &field.member {
            syn::Member::Named(_) => BoundsKey::Named(field.name.clone()),
            syn::Member::Unnamed(index) => BoundsKey::Index(index.index as usize),
        };
        let range_text = bound.range.text();
        let name = &field.name;
        let checked = checked(
            &private,
            bound,
            &key,
            &if bound.optional {
                format!("The bounds of `{type_name}.{name}` when it is `Some`: `{range_text}`.")
            } else {
                format!("The bounds of `{type_name}.{name}`: `{range_text}`.")
            },
        );
        all_const &= checked.is_const;
        items.extend(checked.items.clone());

        let param = &field.param;
        let param_tokens = quote!(#param);
        let return_rejection = |value: &TokenStream| {
            let reject = rejection(&checked, bound, value, &type_name, Some(name));
            quote!(return ::core::result::Result::Err(#reject);)
        };
        try_guards.extend(guard(&checked, bound, &param_tokens, return_rejection));
        let message = panic_message(&format!(
            "{type_name}::new_const: {name} must be in {range_text}"
        ));
        const_guards.extend(guard(
            &checked,
            bound,
            &param_tokens,
            |_| quote!(::core::panic!(#message);),
        ));

        let member = &field.member;
        let ty = &field.ty;
        let current = quote!(self.#member);
        validations.extend(guard(&checked, bound, &current, return_rejection));

        let (getter, setter) = accessor_names(field);
        let value = quote!(value);
        let set_body = match &checked.test_fn {
            // `None`, or `Some` of a value in bounds, is stored.
            Some(_) if bound.optional => {
                let set_guard = guard(&checked, bound, &value, return_rejection);
                quote! {
                    #set_guard
                    self.#member = value;
                    ::core::result::Result::Ok(())
                }
            }
            Some(test) => {
                let reject_value = rejection(&checked, bound, &value, &type_name, Some(name));
                quote! {
                    if Self::#test(value) {
                        self.#member = value;
                        ::core::result::Result::Ok(())
                    } else {
                        ::core::result::Result::Err(#reject_value)
                    }
                }
            }
            None => quote! {
                self.#member = value;
                ::core::result::Result::Ok(())
            },
        };
        let (get_doc, set_doc) = if bound.optional {
            (
                format!("`{name}`: `None`, or `Some` of a value within `{range_text}`."),
                format!(
                    "Sets `{name}` to `value` if it is `None` or `Some` of a value within \
                     `{range_text}`; otherwise returns the [`BoundsError`]({}::BoundsError) and \
                     leaves `{name}` unchanged.",
                    model.krate.path().to_token_stream_string()
                ),
            )
        } else {
            (
                format!("`{name}`, always within `{range_text}`."),
                format!(
                    "Sets `{name}` to `value` if it lies within `{range_text}`; otherwise \
                     returns the [`BoundsError`]({}::BoundsError) and leaves `{name}` unchanged.",
                    model.krate.path().to_token_stream_string()
                ),
            )
        };
        let set_result = result(quote!(()));
        items.extend(quote! {
            #[doc = #get_doc]
            #[inline]
            #vis const fn #getter(&self) -> #ty {
                self.#member
            }

            #[doc = #set_doc]
            #[inline]
            #vis fn #setter(&mut self, value: #ty) -> #set_result {
                #set_body
            }
        });
    }

    let params: Vec<_> = record.fields.iter().map(|f| &f.param).collect();
    let types: Vec<_> = record.fields.iter().map(|f| &f.ty).collect();
    let construct = if record.named {
        quote!(Self { #(#params),* })
    } else {
        quote!(Self( #(#params),* ))
    };
    let try_new_doc = format!(
        "A `{type_name}` from every field in declaration order, checking each bounded field; \
         the first value outside its bounds is returned as the error."
    );
    let try_result = result(quote!(Self));
    let new_const = all_const.then(|| {
        let doc = format!(
            "A `{type_name}` from values known when compiling: panics if a bounded field is \
             outside its range, which in a `const` is a compile error."
        );
        quote! {
            #[doc = #doc]
            #[inline]
            #[track_caller]
            #vis const fn new_const(#(#params: #types),*) -> Self {
                #const_guards
                #construct
            }
        }
    });
    let validate_doc = format!(
        "Checks every bounded field of this `{type_name}` again, in declaration order (useful \
         after code in the defining module wrote a field directly)."
    );
    let validate_result = result(quote!(()));
    let allows = allows();
    let deserialize = model.deserialize.then(|| deserialize_impl(model, record));

    quote! {
        #deserialize

        #allows
        impl #impl_generics #ident #ty_generics #where_clause {
            #items

            #[doc = #try_new_doc]
            #[inline]
            #vis fn try_new(#(#params: #types),*) -> #try_result {
                #try_guards
                ::core::result::Result::Ok(#construct)
            }

            #new_const

            #[doc = #validate_doc]
            #vis fn validate(&self) -> #validate_result {
                #validations
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// `#[bounded(deserialize)]`: a `Deserialize` that reads the fields with serde's own derive (on a
/// private mirror of the struct that carries the user's `#[serde(..)]` attributes, so `rename`,
/// `default`, `alias` and the rest behave as usual) and then checks every bound, returning the
/// first violation as the deserializer's error. Emitted through `bounded_deserialize!`, which
/// is a compile error naming the feature when keel's `serde` feature is off.
fn deserialize_impl(model: &Bounded, record: &Record) -> TokenStream {
    let private = model.krate.private();
    let serde = quote!(#private::serde);
    let ident = &model.ident;
    let serde_path = format!(
        "{}::__private::serde",
        model.krate.path().to_token_stream_string()
    );
    let container_attrs = &model.serde_attrs;
    let members: Vec<&syn::Member> = record.fields.iter().map(|f| &f.member).collect();
    let types = record.fields.iter().map(|f| &f.ty);
    let attrs = record.fields.iter().map(|f| &f.serde_attrs);
    let fields = if record.named {
        quote!({ #( #(#attrs)* #members: #types, )* })
    } else {
        quote!(( #( #(#attrs)* #types, )* );)
    };
    let build = if record.named {
        quote!(Self { #(#members: unchecked.#members,)* })
    } else {
        quote!(Self( #(unchecked.#members,)* ))
    };
    quote! {
        #private::bounded_deserialize! {
            impl<'de> #serde::Deserialize<'de> for #ident {
                fn deserialize<__D>(deserializer: __D) -> ::core::result::Result<Self, __D::Error>
                where
                    __D: #serde::Deserializer<'de>,
                {
                    // The mirror takes the struct's name, which serde's messages show
                    // ("expected struct Cfg"); `Self` below is still the real struct.
                    #[derive(#serde::Deserialize)]
                    #[serde(crate = #serde_path)]
                    #(#container_attrs)*
                    struct #ident #fields
                    let unchecked = <#ident as #serde::Deserialize<'de>>::deserialize(deserializer)?;
                    let value = #build;
                    match value.validate() {
                        ::core::result::Result::Ok(()) => ::core::result::Result::Ok(value),
                        ::core::result::Result::Err(error) => ::core::result::Result::Err(
                            <__D::Error as #serde::de::Error>::custom(error),
                        ),
                    }
                }
            }
        }
    }
}

/// `port` / `set_port` for a named field, `get_0` / `set_0` for a tuple field.
fn accessor_names(field: &Field) -> (Ident, Ident) {
    match &field.member {
        syn::Member::Named(ident) => (
            ident.clone(),
            Ident::new(&format!("set_{}", ident.unraw()), ident.span()),
        ),
        syn::Member::Unnamed(index) => (
            Ident::new(&format!("get_{}", index.index), Span::call_site()),
            Ident::new(&format!("set_{}", index.index), Span::call_site()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate;
    use super::*;
    use syn::parse_quote;

    fn expanded(input: syn::DeriveInput) -> String {
        expand(&validate::model(&input).unwrap()).to_string()
    }

    #[test]
    fn setter_compares_inline_and_builds_the_error_out_of_line() {
        let code = expanded(parse_quote! {
            pub struct NetworkConfig { #[bounded(1..=65535)] port: u32 }
        });
        assert!(code.contains("pub fn set_port"), "{code}");
        assert!(code.contains("value >= Self :: __KEEL_PORT_LO"), "{code}");
        assert!(code.contains("value <= Self :: __KEEL_PORT_HI"), "{code}");
        assert!(code.contains("PORT_BOUNDS . rejection"), "{code}");
        assert!(code.contains("const fn new_const"), "{code}");
        assert!(
            code.contains(":: keel :: __private :: BoundsError"),
            "{code}"
        );
    }

    #[test]
    fn a_side_at_the_integer_limit_is_not_compared() {
        let code = expanded(parse_quote!(
            struct S {
                #[bounded(0..=u8::MAX)]
                a: u8,
                #[bounded(0..)]
                b: u32,
            }
        ));
        assert!(!code.contains("__keel_a_in_bounds"), "{code}");
        assert!(!code.contains("value >="), "{code}");
        assert!(code.contains("A_BOUNDS"), "{code}");
    }

    #[test]
    fn user_types_get_no_new_const_and_an_ordering_test() {
        let code = expanded(parse_quote!(
            struct S {
                #[bounded(C(0.0)..)]
                t: C,
            }
        ));
        assert!(!code.contains("new_const"), "{code}");
        assert!(code.contains("partial_cmp (& value , & value)"), "{code}");
    }

    #[test]
    fn crate_path_replaces_keel() {
        let code = expanded(parse_quote!(
            #[bounded(1..=9, crate = my_keel)]
            struct Level(u8);
        ));
        assert!(
            code.contains("my_keel :: __private :: BoundsError"),
            "{code}"
        );
        assert!(!code.contains(":: keel ::"), "{code}");
        assert!(code.contains("bounded_newtype_serde"), "{code}");
    }
}
