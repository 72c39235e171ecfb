//! The Arrow half of a struct's expansion: `impl ArrowColumns for <Name>Columns` and
//! `<Name>::arrow_schema()`, wrapped in `with_arrow!` so they exist only when keel's `arrow`
//! feature is on. Each column kind names the runtime conversion of its kind
//! (`keel::arrow`); nested `Compact` types go through their container's `ArrowVec`.

use super::column::Names;
use super::model::{Container, Field};
use super::validate::Column;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

/// What one field contributes to the Arrow impl.
struct ArrowField {
    /// The `arrow_schema::Field` (an expression).
    field: TokenStream,
    /// `&self.<f>` as an array (an expression of `Result<ArrayRef, Error>` or `ArrayRef`,
    /// followed by `?` where needed).
    to: TokenStream,
    /// The moved-out column `<f>` as an array.
    into: TokenStream,
    /// The rows `__range` of `&self.<f>` as an array.
    range: TokenStream,
    /// The column's values as `Vec<field type>` (an expression using `?`).
    read: TokenStream,
}

fn arrow_field(p: &TokenStream, field: &Field, column: &Column) -> ArrowField {
    let a = quote!(#p::arrow);
    let n = Names::of(&field.ident);
    let (ty, f, text) = (&field.ty, &n.field, &n.text);
    let new_field = |data_type: TokenStream, metadata: TokenStream| quote!(#a::Field::new(#text, #data_type, false).with_metadata(#metadata));
    let no_metadata = quote!(#a::HashMap::new());
    let read = quote!(__columns.read::<#ty>(#text)?);
    match column {
        Column::Full { bounds } => {
            let metadata = match bounds {
                Some(_) => {
                    let b = &n.bounds;
                    quote!(#a::bounds_metadata(&Self::#b))
                }
                None => no_metadata,
            };
            ArrowField {
                field: new_field(quote!(<#ty as #a::FullColumn>::data_type()), metadata),
                to: quote!(<#ty as #a::FullColumn>::to_array(&self.#f)),
                into: quote!(<#ty as #a::FullColumn>::into_array(#f)),
                range: quote!(<#ty as #a::FullColumn>::to_array(&self.#f[__range.clone()])),
                read,
            }
        }
        Column::Packed { .. } => {
            let (lo, hi) = (&n.lo, &n.hi);
            let lo = quote!(#a::AsI128::as_i128(Self::#lo));
            let hi = quote!(#a::AsI128::as_i128(Self::#hi));
            ArrowField {
                field: new_field(
                    quote!(#a::int_type(#lo, #hi)),
                    quote!(#a::range_metadata(#lo, #hi)),
                ),
                to: quote!(#a::packed_to_array(&self.#f, #lo, #hi)),
                into: quote!(#a::packed_to_array(&#f, #lo, #hi)),
                range: quote!(#a::packed_to_array_range(&self.#f, #lo, #hi, __range.clone())),
                read,
            }
        }
        Column::Bitmap => ArrowField {
            field: new_field(quote!(#a::DataType::Boolean), no_metadata),
            to: quote!(#a::bitmap_to_array(&self.#f)),
            into: quote!(#a::bitmap_into_array(#f)),
            range: quote!(#a::bitmap_to_array_range(&self.#f, __range.clone())),
            read,
        },
        Column::Arena => ArrowField {
            field: new_field(quote!(#a::DataType::Utf8), no_metadata),
            to: quote!(#a::arena_to_array(&self.#f, #text)?),
            into: quote!(#a::arena_into_array(#f, #text)?),
            range: quote!(#a::arena_to_array_range(&self.#f, #text, __range.clone())?),
            read,
        },
        Column::Interned => ArrowField {
            field: new_field(quote!(#a::interned_type()), no_metadata),
            to: quote!(#a::interned_to_array(&self.#f, #text)?),
            into: quote!(#a::interned_to_array(&#f, #text)?),
            range: quote!(#a::interned_to_array_range(&self.#f, #text, __range.clone())?),
            read,
        },
        Column::Nested => {
            let vec = quote!(<#ty as #p::Compact>::Vec);
            ArrowField {
                field: quote!(#a::nested_field::<#vec>(#text)),
                to: quote!(<#vec as #a::ArrowVec>::to_array(&self.#f)?),
                into: quote!(<#vec as #a::ArrowVec>::into_array(#f)?),
                range: quote!(<#vec as #a::ArrowVec>::to_array_range(&self.#f, __range.clone())?),
                read: quote!(__columns.rows::<#vec>(#text)?),
            }
        }
    }
}

/// `impl ArrowColumns for <Name>Columns` and `<Name>::arrow_schema()`, inside `with_arrow!`.
pub fn expand(
    container: &Container,
    fields: &[Field],
    columns: &[Column],
    where_clause: Option<&TokenStream>,
    p: &TokenStream,
) -> TokenStream {
    let a = quote!(#p::arrow);
    let ident = &container.ident;
    let columns_ident = format_ident!("{}Columns", ident);
    let vec_ident = format_ident!("{}Vec", ident);
    let code: Vec<ArrowField> = fields
        .iter()
        .zip(columns)
        .map(|(field, column)| arrow_field(p, field, column))
        .collect();
    let f: Vec<_> = fields.iter().map(|field| &field.ident).collect();
    let values: Vec<_> = fields
        .iter()
        .map(|field| format_ident!("__{}_values", Names::of(&field.ident).text))
        .collect();
    let arrow_fields = code.iter().map(|c| &c.field);
    let to = code.iter().map(|c| &c.to);
    let into = code.iter().map(|c| &c.into);
    let range = code.iter().map(|c| &c.range);
    let read = code.iter().map(|c| &c.read);
    // A nested type's container must convert too: stated in the where clause (spanned at the
    // field's type) rather than left to the body, so that a nested type that is not `Compact`
    // at all is reported once, by the `Compact` bound, and not again as "not an Arrow column".
    let nested: Vec<TokenStream> = fields
        .iter()
        .zip(columns)
        .filter(|(_, column)| matches!(column, Column::Nested))
        .map(|(field, _)| {
            let ty = &field.ty;
            quote_spanned!(syn::spanned::Spanned::span(ty)=>
                <#ty as #p::Compact>::Vec: #a::ArrowVec)
        })
        .collect();
    let where_clause = match (where_clause, nested.is_empty()) {
        (_, true) => where_clause.cloned(),
        (Some(bounds), false) => Some(quote!(#bounds #(#nested,)*)),
        (None, false) => Some(quote!(where #(#nested,)*)),
    };
    let name = ident.to_string();
    let schema_doc = format!(
        "The Arrow schema of [`{name}`] rows (keel's `arrow` feature): one non-nullable field \
         per struct field, bounded fields as the narrowest integer type of their range with \
         `keel.min` / `keel.max` in their metadata. A [`{name}Vec`]'s `to_record_batch()` and \
         `into_record_batch()` produce batches of this schema."
    );
    quote! {
        #p::with_arrow! {
            impl #ident #where_clause {
                #[doc = #schema_doc]
                pub fn arrow_schema() -> #a::SchemaRef {
                    #vec_ident::arrow_schema()
                }
            }

            impl #a::ArrowColumns for #columns_ident #where_clause {
                fn fields() -> #p::Vec<#a::Field> {
                    #a::vec![#(#arrow_fields),*]
                }

                fn to_arrays(&self) -> #p::Result<#p::Vec<#a::ArrayRef>, #a::Error> {
                    #p::Result::Ok(#a::vec![#(#to),*])
                }

                fn into_arrays(self) -> #p::Result<#p::Vec<#a::ArrayRef>, #a::Error> {
                    let Self { #(#f),* } = self;
                    #p::Result::Ok(#a::vec![#(#into),*])
                }

                fn to_arrays_range(
                    &self,
                    __range: #a::Range<usize>,
                ) -> #p::Result<#p::Vec<#a::ArrayRef>, #a::Error> {
                    #p::Result::Ok(#a::vec![#(#range),*])
                }

                fn rows_from_arrays(
                    __columns: &#a::Columns<'_>,
                ) -> #p::Result<#p::Vec<#ident>, #a::Error> {
                    #(let mut #values = ::core::iter::IntoIterator::into_iter(#read);)*
                    let mut __rows = #p::Vec::with_capacity(__columns.len());
                    for _ in 0..__columns.len() {
                        #(
                            let #p::Option::Some(#f) = ::core::iter::Iterator::next(&mut #values)
                            else {
                                break;
                            };
                        )*
                        __rows.push(#ident { #(#f),* });
                    }
                    #p::Result::Ok(__rows)
                }
            }
        }
    }
}
