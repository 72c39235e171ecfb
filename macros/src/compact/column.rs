//! What one field contributes to the generated code: its column type and the per-field lines
//! of the `<Name>Columns` impls (encode on write, decode on read, its readers, its layout).
//! Everything the same for every field lives in the runtime's `StructVec`.

use super::model::{Container, Field};
use super::validate::{Column, Width};
use crate::common::bounds::{BoundsKey, Side, bounds_const};
use crate::common::primitive::Primitive;
use crate::common::range::RangeSpec;
use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;

/// Names of the helper items generated for one field.
pub struct Names {
    pub field: Ident,
    pub text: String,
    pub lo: Ident,
    pub hi: Ident,
    pub bounds: Ident,
    bits: Ident,
    encode: Ident,
    decode: Ident,
    column: Ident,
}

impl Names {
    pub fn of(field: &Ident) -> Self {
        let text = field.to_string();
        let text = text.strip_prefix("r#").unwrap_or(&text).to_owned();
        let key = BoundsKey::Named(text.clone());
        let prefix = key.prefix();
        Self {
            field: field.clone(),
            lo: format_ident!("{}LO", prefix),
            hi: format_ident!("{}HI", prefix),
            bounds: key.bounds_const(),
            bits: format_ident!("{}BITS", prefix),
            encode: format_ident!("__encode_{}", text),
            decode: format_ident!("__decode_{}", text),
            column: format_ident!("{}_column", text),
            text,
        }
    }
}

/// The code one field contributes.
pub struct FieldCode {
    /// The column's type.
    pub column: TokenStream,
    /// An empty column (expression).
    pub new: TokenStream,
    /// Associated items of `<Name>Columns` (bounds, bit width, encode/decode).
    pub consts: TokenStream,
    /// Checks `row.<field>`; `return`s the error.
    pub check: TokenStream,
    /// Appends `row.<field>`.
    pub push: TokenStream,
    /// Overwrites `index` with `row.<field>`.
    pub set: TokenStream,
    /// The decoded value at `index` (an expression that may use `?`).
    pub get: TokenStream,
    /// Decodes into `row.<field>` in place; `row.<field> = get` when `None`.
    pub get_into: Option<TokenStream>,
    /// A `&dyn Debug` of the value at `index` (below the length).
    pub debug: TokenStream,
    /// The per-field readers.
    pub readers: TokenStream,
    /// The field's `FieldLayout`.
    pub layout: TokenStream,
    /// `Some(type)` for a nested `Compact` field: the bound every generated item states once,
    /// so a type that does not implement `Compact` is reported once, not at every use.
    pub nested: Option<syn::Type>,
}

/// What one column kind decides; [`field_code`] builds the rest (the two readers, the layout)
/// from it the same way for every kind.
struct Kind {
    column: TokenStream,
    new: TokenStream,
    consts: TokenStream,
    check: TokenStream,
    push: TokenStream,
    set: TokenStream,
    get: TokenStream,
    get_into: Option<TokenStream>,
    debug: TokenStream,
    /// The readers: what `rows.<field>(i)` returns inside `Option`, its body, and its doc.
    value: TokenStream,
    read: TokenStream,
    getter_doc: String,
    /// What `rows.<field>_column()` returns, its doc, and whether it is `#[inline]` (a plain
    /// slice is).
    column_ref: TokenStream,
    column_doc: String,
    inline_column: bool,
    /// The bits a row takes, and the layout's storage kind.
    bits: TokenStream,
    storage: TokenStream,
    nested: Option<syn::Type>,
}

/// The code of `field`, stored as `column` says, in the container for `container`.
pub fn field_code(
    p: &TokenStream,
    container: &Container,
    field: &Field,
    column: &Column,
) -> FieldCode {
    let n = Names::of(&field.ident);
    let kind = match column {
        Column::Full { bounds } => full(p, container, field, &n, bounds.as_deref()),
        Column::Packed { int, width } => packed(p, container, field, &n, *int, width),
        Column::Bitmap => bitmap(p, &n),
        Column::Arena => text(
            p,
            &n,
            quote!(#p::StrArena),
            quote!(usize::BITS),
            quote!(#p::Storage::Arena),
            "one text buffer shared by every row",
        ),
        Column::Interned => text(
            p,
            &n,
            quote!(#p::InternedStrs),
            quote!(0),
            quote!(#p::Storage::Interned),
            "bit-packed ids into the column's interner",
        ),
        Column::Nested => nested(p, field, &n),
    };
    let Kind {
        value,
        read,
        getter_doc,
        column_ref,
        column_doc,
        inline_column,
        bits,
        storage,
        ..
    } = &kind;
    let (vis, f, column_reader, text, ty) = (&field.vis, &n.field, &n.column, &n.text, &field.ty);
    let inline_column = inline_column.then(|| quote!(#[inline]));
    let readers = quote! {
        #[doc = #getter_doc]
        #[inline]
        #vis fn #f(&self, index: usize) -> #p::Option<#value> {
            #read
        }
        #[doc = #column_doc]
        #inline_column
        #vis fn #column_reader(&self) -> #column_ref {
            &self.#f
        }
    };
    let ident = &container.ident;
    let type_text = crate::common::range::type_text(ty);
    let layout = quote! {
        #p::FieldLayout::new(
            #text,
            #type_text,
            #p::offset_of!(#ident, #f),
            #p::size_of::<#ty>(),
            #bits,
            #storage,
        )
    };
    FieldCode {
        column: kind.column,
        new: kind.new,
        consts: kind.consts,
        check: kind.check,
        push: kind.push,
        set: kind.set,
        get: kind.get,
        get_into: kind.get_into,
        debug: kind.debug,
        readers,
        layout,
        nested: kind.nested,
    }
}

fn default_getter_doc(n: &Names) -> String {
    format!("The `{}` of row `index`, or `None` past the end.", n.text)
}

/// `Vec<T>`: numbers at full width and `char`; a bounded float is checked, not packed.
fn full(
    p: &TokenStream,
    container: &Container,
    field: &Field,
    n: &Names,
    bounds: Option<&RangeSpec>,
) -> Kind {
    let owner = container.ident.to_string();
    let (ty, f, text) = (&field.ty, &n.field, &n.text);
    let (consts, check) = match bounds {
        Some(range) => {
            let b = &n.bounds;
            (
                range_consts(p, &owner, n, ty, None, range),
                quote!(Self::#b.check(row.#f, #owner, #p::Option::Some(#text))?;),
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    Kind {
        column: quote!(#p::Vec<#ty>),
        new: quote!(#p::Vec::new()),
        consts,
        check,
        push: quote!(self.#f.push(row.#f);),
        set: quote!(self.#f[index] = row.#f;),
        get: quote!(*self.#f.get(index)?),
        get_into: None,
        debug: quote!(&self.#f[index]),
        value: quote!(#ty),
        read: quote!(self.#f.get(index).copied()),
        getter_doc: default_getter_doc(n),
        column_ref: quote!(&[#ty]),
        column_doc: format!(
            "Every row's `{text}`, as one contiguous slice (no decoding: sum it, search it, \
             hand it to SIMD code)."
        ),
        inline_column: true,
        bits: quote!((#p::size_of::<#ty>() * 8) as u32),
        storage: quote!(#p::Storage::Full),
        nested: None,
    }
}

/// A bit-packed integer: its offset from the lower bound of a range or of `bits = N`.
fn packed(
    p: &TokenStream,
    container: &Container,
    field: &Field,
    n: &Names,
    int: Primitive,
    width: &Width,
) -> Kind {
    let owner = container.ident.to_string();
    let ident = &container.ident;
    let (ty, f, text) = (&field.ty, &n.field, &n.text);
    let Names {
        lo,
        hi,
        bounds,
        bits,
        encode,
        decode,
        ..
    } = n;
    let codec = codec(n, ty, int);
    let (consts, check) = match width {
        Width::Range(range) => {
            let consts = range_consts(p, &owner, n, ty, Some(int), range);
            (
                quote!(#consts #codec),
                quote!(Self::#bounds.check(row.#f, #owner, #p::Option::Some(#text))?;),
            )
        }
        Width::Bits {
            bits: n_bits,
            min,
            max,
        } => {
            let (min_lit, max_lit) = (int_literal(*min), int_literal(*max));
            let n_bits = Literal::u32_unsuffixed(*n_bits);
            let side = |name: &Ident| {
                Some(Side {
                    value: quote!(Self::#name),
                    included: true,
                })
            };
            let bounds_const = bounds_const(p, TokenStream::new(), bounds, ty, side(lo), side(hi));
            (
                quote! {
                    const #lo: #ty = #min_lit;
                    const #hi: #ty = #max_lit;
                    const #bits: u32 = #n_bits;
                    #bounds_const
                    #codec
                },
                quote! {
                    if Self::#bounds.violation(&row.#f).is_some() {
                        return #p::Result::Err(#p::BoundsError::bits(
                            #owner, #text, &row.#f, Self::#bits, #min_lit, #max_lit,
                        ));
                    }
                },
            )
        }
    };
    let columns = format_ident!("{}Columns", ident);
    Kind {
        column: quote!(#p::PackedColumn),
        new: quote!(#p::PackedColumn::new(Self::#bits)),
        consts,
        check,
        push: quote!(self.#f.push(Self::#encode(row.#f));),
        set: quote!(self.#f.set(index, Self::#encode(row.#f));),
        get: quote!(Self::#decode(self.#f.get_fixed::<{ Self::#bits }>(index)?)),
        get_into: None,
        debug: quote!(&Self::#decode(self.#f.get(index).unwrap_or_default())),
        value: quote!(#ty),
        read: quote!(self.#f.get_fixed::<{ Self::#bits }>(index).map(Self::#decode)),
        getter_doc: format!("The `{text}` of row `index` (unpacked), or `None` past the end."),
        column_ref: quote!(&#p::PackedColumn),
        column_doc: format!(
            "The bit-packed `{text}` column: each value stored as its offset from the lower \
             bound, in the bit width `{ident}::LAYOUT` shows."
        ),
        inline_column: false,
        bits: quote!(#columns::#bits),
        storage: quote!(#p::Storage::Packed),
        nested: None,
    }
}

/// `bool`: one bit per row.
fn bitmap(p: &TokenStream, n: &Names) -> Kind {
    let (f, text) = (&n.field, &n.text);
    Kind {
        column: quote!(#p::Bitmap),
        new: quote!(#p::Bitmap::new()),
        consts: TokenStream::new(),
        check: TokenStream::new(),
        push: quote!(self.#f.push(row.#f);),
        set: quote!(self.#f.set(index, row.#f);),
        get: quote!(self.#f.get(index)?),
        get_into: None,
        debug: quote!(&self.#f.get(index).unwrap_or_default()),
        value: quote!(bool),
        read: quote!(self.#f.get(index)),
        getter_doc: default_getter_doc(n),
        column_ref: quote!(&#p::Bitmap),
        column_doc: format!("The `{text}` column: one bit per row."),
        inline_column: false,
        bits: quote!(1),
        storage: quote!(#p::Storage::Bitmap),
        nested: None,
    }
}

/// `String`, in the container's arena or (`#[compact(intern)]`) its interner: `column` is the
/// column's type, `what` says how it stores text.
fn text(
    p: &TokenStream,
    n: &Names,
    column: TokenStream,
    bits: TokenStream,
    storage: TokenStream,
    what: &str,
) -> Kind {
    let (f, text) = (&n.field, &n.text);
    Kind {
        new: quote!(#column::new()),
        consts: TokenStream::new(),
        check: TokenStream::new(),
        push: quote!(self.#f.push(&row.#f);),
        set: quote!(self.#f.set(index, &row.#f);),
        get: quote!(#p::String::from(self.#f.get(index)?)),
        get_into: Some(quote! {
            let text: &str = self.#f.get(index)?;
            row.#f.clear();
            row.#f.push_str(text);
        }),
        debug: quote!(&self.#f.get(index).unwrap_or_default()),
        value: quote!(&str),
        read: quote!(self.#f.get(index)),
        getter_doc: format!(
            "The `{text}` of row `index`, borrowed from the column (no allocation), or `None` \
             past the end."
        ),
        column_ref: quote!(&#column),
        column_doc: format!("The `{text}` column: {what}."),
        inline_column: false,
        column,
        bits,
        storage,
        nested: None,
    }
}

/// A type implementing `keel::Compact`, in its own container.
fn nested(p: &TokenStream, field: &Field, n: &Names) -> Kind {
    let (ty, f, text) = (&field.ty, &n.field, &n.text);
    let vec = quote_spanned!(syn::spanned::Spanned::span(ty)=> <#ty as #p::Compact>::Vec);
    let cv = quote!(#p::CompactVec);
    Kind {
        new: quote!(<#vec as ::core::default::Default>::default()),
        consts: TokenStream::new(),
        check: quote!(#cv::check(&self.#f, &row.#f)?;),
        push: quote!(#cv::push_valid(&mut self.#f, row.#f);),
        set: quote!(#cv::set_valid(&mut self.#f, index, row.#f);),
        get: quote!(#cv::get(&self.#f, index)?),
        get_into: Some(quote! {
            if !#cv::get_into(&self.#f, index, &mut row.#f) {
                return #p::Option::None;
            }
        }),
        debug: quote!(&#p::RowDebug::new(&self.#f, index)),
        value: quote!(#ty),
        read: quote!(#cv::get(&self.#f, index)),
        getter_doc: default_getter_doc(n),
        column_ref: quote!(&#vec),
        column_doc: format!(
            "The container holding every row's `{text}` (the `Compact` type's own `Vec`)."
        ),
        inline_column: false,
        column: vec,
        bits: quote!(<#ty as #p::Compact>::LAYOUT.packed_bits()),
        storage: quote!(<#ty as #p::Compact>::LAYOUT.storage_as_field()),
        nested: Some(ty.clone()),
    }
}

fn range_consts(
    p: &TokenStream,
    owner: &str,
    n: &Names,
    ty: &syn::Type,
    int: Option<Primitive>,
    range: &RangeSpec,
) -> TokenStream {
    let Names {
        lo,
        hi,
        bounds,
        bits,
        ..
    } = n;
    let bounds_const = bounds_const(
        p,
        TokenStream::new(),
        bounds,
        ty,
        range.lo.as_ref().map(|expr| Side {
            value: bound_tokens(expr),
            included: true,
        }),
        range.hi.as_ref().map(|expr| Side {
            value: bound_tokens(expr),
            included: range.inclusive,
        }),
    );
    let Some(int) = int else {
        return bounds_const;
    };
    let lo_value = match &range.lo {
        Some(expr) => bound_tokens(expr),
        None => quote!(<#ty>::MIN),
    };
    let hi_value = match (&range.hi, range.inclusive) {
        (Some(expr), true) => bound_tokens(expr),
        (Some(expr), false) => {
            let expr = bound_tokens(expr);
            // Literals made here keep the call-site span: spanned at the user's range, lints that
            // read the source text (`zero_prefixed_literal`) would see `0..1000` instead.
            let one = Literal::u8_unsuffixed(1);
            quote!(#expr - #one)
        }
        (None, _) => quote!(<#ty>::MAX),
    };
    let max_bits = Literal::u32_unsuffixed(64);
    let span = range
        .expr
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    let (wide, helper) = if int.is_signed() {
        (Primitive::I128, quote!(range_bits_signed))
    } else {
        (Primitive::U128, quote!(range_bits_unsigned))
    };
    let widen = |value: TokenStream| {
        if int == wide {
            value
        } else {
            let wide = wide.ident();
            quote!(#value as #wide)
        }
    };
    let lo_wide = widen(quote!(Self::#lo));
    let hi_wide = widen(quote!(Self::#hi));
    let empty = format!(
        "`{}.{}`: the range `{}` is empty (its lower bound is above its upper bound)",
        owner,
        n.text,
        range.text()
    );
    let too_wide = format!(
        "`{}.{}`: the range `{}` needs more than 64 bits; a packed column holds at most 64",
        owner,
        n.text,
        range.text()
    );
    let fits = if int.is_signed() {
        quote!(range_is_ordered_signed)
    } else {
        quote!(range_is_ordered_unsigned)
    };
    quote_spanned! {span=>
        #bounds_const
        const #lo: #ty = #lo_value;
        const #hi: #ty = #hi_value;
        const #bits: u32 = {
            ::core::assert!(#p::#fits(#lo_wide, #hi_wide), #empty);
            let bits = #p::#helper(#lo_wide, #hi_wide);
            ::core::assert!(bits <= #max_bits, #too_wide);
            bits
        };
    }
}

/// A bound's tokens in an invisible group: precedence kept, no `unused_parens` in user crates.
fn bound_tokens(expr: &syn::Expr) -> TokenStream {
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::None, expr.to_token_stream());
    group.set_span(syn::spanned::Spanned::span(expr));
    group.into_token_stream()
}

fn int_literal(value: i128) -> TokenStream {
    let literal = Literal::u128_unsuffixed(value.unsigned_abs());
    if value < 0 {
        quote!(-#literal)
    } else {
        quote!(#literal)
    }
}

fn codec(n: &Names, ty: &syn::Type, int: Primitive) -> TokenStream {
    let Names {
        lo, encode, decode, ..
    } = n;
    let offset = quote!(value.wrapping_sub(Self::#lo));
    let encoded = match int.unsigned() {
        _ if int == Primitive::U64 => offset,
        Some(Primitive::U64) => quote!(#offset as u64),
        Some(same) if same == int => quote!(#offset as u64),
        Some(unsigned) => {
            let unsigned = unsigned.ident();
            quote!(#offset as #unsigned as u64)
        }
        // Not reached: a packed column holds an integer.
        None => quote!(#offset as u64),
    };
    let raw = if int == Primitive::U64 {
        quote!(raw)
    } else {
        quote!(raw as #ty)
    };
    quote! {
        #[inline]
        fn #encode(value: #ty) -> u64 {
            #encoded
        }
        #[inline]
        fn #decode(raw: u64) -> #ty {
            Self::#lo.wrapping_add(#raw)
        }
    }
}
