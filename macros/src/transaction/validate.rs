//! Checks the function: a `Result` return type and a connection parameter (the first `&mut`
//! parameter, or the one named by `conn = ident`). A blocking `fn` and an `async fn` are checked
//! alike; only the examples in the messages differ.

use super::model::{Connection, Options, Transaction};
use crate::common::errors::Errors;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Type};

/// Checks the function against the options and builds the model; `None` when a mistake was
/// recorded in `errors`.
pub fn validate(options: Options, item: ItemFn, errors: &mut Errors) -> Option<Transaction> {
    let sig = &item.sig;
    let is_async = sig.asyncness.is_some();

    let output = match &sig.output {
        ReturnType::Type(_, ty) if is_result(ty) => Some((**ty).clone()),
        ReturnType::Type(_, ty) => {
            errors.push_spanned(
                ty,
                format!(
                    "#[keel::transaction] needs `{}` to return `Result<T, E>` (with E: From<the connection's error> + From<keel::tx::TxError>), not `{}`",
                    sig.ident,
                    ty.to_token_stream().to_string().replace(' ', "")
                ),
            );
            None
        }
        ReturnType::Default => {
            errors.push_spanned(
                &sig.ident,
                format!(
                    "#[keel::transaction] needs `{}` to return `Result<T, E>` (with E: From<the connection's error> + From<keel::tx::TxError>); it returns `()`",
                    sig.ident
                ),
            );
            None
        }
    };

    let conn = find_connection(&options, &item, errors);

    let (output, conn) = (output?, conn?);
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&sig.ident.to_string(), sig.ident.span()));
    Some(Transaction {
        item,
        is_async,
        conn,
        output,
        name,
        options,
    })
}

/// `Result<..>`, `io::Result<..>`, `anyhow::Result<..>`: a path whose last segment is `Result`
/// with generic arguments.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|last| {
            last.ident == "Result"
                && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
        }),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

fn find_connection(options: &Options, item: &ItemFn, errors: &mut Errors) -> Option<Connection> {
    let sig = &item.sig;
    let typed = sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, arg)| match arg {
            FnArg::Typed(pat_type) => Some((i, pat_type)),
            FnArg::Receiver(_) => None,
        });

    let (index, param) = match &options.conn {
        Some(wanted) => {
            let found = typed
                .clone()
                .find(|(_, p)| matches!(&*p.pat, Pat::Ident(pat) if pat.ident == *wanted));
            match found {
                Some(found) => found,
                None => {
                    let names: Vec<String> = typed
                        .filter_map(|(_, p)| match &*p.pat {
                            Pat::Ident(pat) => Some(format!("`{}`", pat.ident)),
                            _ => None,
                        })
                        .collect();
                    let has = if names.is_empty() {
                        "it has no named parameters".to_owned()
                    } else {
                        format!("its parameters are {}", names.join(", "))
                    };
                    errors.push_spanned(
                        wanted,
                        format!(
                            "`conn = {wanted}` names no parameter of `{}`; {has}",
                            sig.ident
                        ),
                    );
                    return None;
                }
            }
        }
        None => {
            let found = typed
                .clone()
                .find(|(_, p)| matches!(&*p.ty, Type::Reference(r) if r.mutability.is_some()));
            match found {
                Some(found) => found,
                None => {
                    // No `&mut` parameter: a connection (or pool) taken another way is the
                    // likely mistake; say so at that parameter.
                    if let Some((_, param)) = typed.clone().find(|(_, p)| {
                        ConnType::of(&p.ty).is_some_and(|c| c.looks_like_a_connection())
                    }) {
                        let written = ConnType::of(&param.ty).expect("found above");
                        errors.push_spanned(param, written.mistake(sig.asyncness.is_some()));
                        return None;
                    }
                    errors.push_spanned(
                        &sig.ident,
                        format!(
                            "#[keel::transaction] needs a connection parameter: `{}` has no `&mut` parameter; add one (`{}`) or name it with `conn = ident`",
                            sig.ident,
                            if sig.asyncness.is_some() {
                                "conn: &mut sqlx::SqliteConnection`, `conn: &mut sqlx::PgConnection` or `db: &mut tokio_postgres::Client"
                            } else {
                                "conn: &mut rusqlite::Connection` or `db: &mut postgres::Client"
                            }
                        ),
                    );
                    return None;
                }
            }
        }
    };
    // A pool, or a connection behind `&`: one error at the parameter, naming the fix.
    if let Some(written) = ConnType::of(&param.ty)
        && (written.pool.is_some() || (written.by_ref && !written.by_mut_ref))
        && written.looks_like_a_connection()
    {
        errors.push_spanned(param, written.mistake(sig.asyncness.is_some()));
        return None;
    }

    let Pat::Ident(pat) = &*param.pat else {
        errors.push_spanned(
            &param.pat,
            "the connection parameter must be a plain name (`conn: &mut Connection`)",
        );
        return None;
    };
    if let Some(by_ref) = &pat.by_ref {
        errors.push_spanned(by_ref, "the connection parameter cannot be a `ref` binding");
        return None;
    }
    let span = param.ty.span();
    let ident = pat.ident.clone();
    Some(match &*param.ty {
        Type::Reference(reference) if reference.mutability.is_some() => Connection {
            index,
            ident,
            target: (*reference.elem).clone(),
            by_ref: true,
            span,
        },
        Type::Reference(reference) => {
            errors.push_spanned(
                reference,
                "the connection must be taken as `&mut` (transactions change its state)",
            );
            return None;
        }
        other => Connection {
            index,
            ident,
            target: other.clone(),
            by_ref: false,
            span,
        },
    })
}

/// A connection parameter's type as written, for messages about common mistakes: recognised by
/// its last path segment (the macro sees only tokens).
struct ConnType {
    /// The type behind any reference, as written (`sqlx::SqlitePool`).
    written: String,
    /// The last path segment's name (`SqlitePool`, `Pool`).
    last: String,
    /// `&mut T`.
    by_mut_ref: bool,
    /// `&T`.
    by_ref: bool,
    /// For a pool: the connection type to take instead (`SqliteConnection`), if known.
    pool: Option<Option<&'static str>>,
}

impl ConnType {
    fn of(ty: &Type) -> Option<Self> {
        let (inner, by_ref, by_mut_ref) = match ty {
            Type::Reference(r) => (&*r.elem, true, r.mutability.is_some()),
            other => (other, false, false),
        };
        let Type::Path(path) = inner else {
            return None;
        };
        let last = path.path.segments.last()?;
        let name = last.ident.to_string();
        let args = match &last.arguments {
            syn::PathArguments::AngleBracketed(args) => {
                args.to_token_stream().to_string().replace(' ', "")
            }
            _ => String::new(),
        };
        let pool = match name.as_str() {
            "SqlitePool" => Some(Some("SqliteConnection")),
            "PgPool" => Some(Some("PgConnection")),
            "Pool" if args.contains("Sqlite") => Some(Some("SqliteConnection")),
            "Pool" if args.contains("Postgres") => Some(Some("PgConnection")),
            n if n.ends_with("Pool") => Some(None),
            _ => None,
        };
        Some(Self {
            written: inner.to_token_stream().to_string().replace(' ', ""),
            last: name,
            by_mut_ref,
            by_ref,
            pool,
        })
    }

    /// A pool, or a type whose name says it is a connection (`...Connection`, `Client`,
    /// `Transaction`).
    fn looks_like_a_connection(&self) -> bool {
        self.pool.is_some()
            || self.last.ends_with("Connection")
            || self.last.ends_with("Client")
            || self.last == "Transaction"
    }

    /// The one message for this mistake, naming the fix for the type as written.
    fn mistake(&self, is_async: bool) -> String {
        let written = &self.written;
        match self.pool {
            Some(Some(conn)) => format!(
                "`{written}` is a pool, not a connection: take `conn: &mut sqlx::{conn}` and pass a connection from the pool, `&mut *pool.acquire().await?` (or take `&mut sqlx::pool::PoolConnection<_>`)"
            ),
            Some(None) if is_async => format!(
                "`{written}` is a pool, not a connection: take the pool's connection type (`&mut sqlx::SqliteConnection`, `&mut sqlx::PgConnection`) and pass `&mut *pool.acquire().await?`"
            ),
            Some(None) => format!(
                "`{written}` is a pool, not a connection: take `conn: &mut rusqlite::Connection` (or `&mut postgres::Client`) and pass a connection taken from the pool"
            ),
            None if self.by_ref => format!(
                "#[keel::transaction] needs `&mut {written}`, not `&{written}`: a transaction changes the connection's state"
            ),
            None => format!(
                "#[keel::transaction] takes the first `&mut` parameter as the connection: write `&mut {written}`, or name this parameter with `conn = ident` to take it by value"
            ),
        }
    }
}
