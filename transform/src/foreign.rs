//! A dependency's source file, rewritten for `cargo keel`: every selected `fn`, method, trait
//! default method and `async fn` with a body, through [`crate::body::instrument_block`] with
//! [`Runtime::Foreign`](crate::Runtime::Foreign). Left alone: `const fn`, `#[track_caller]` functions (a closure would
//! move the caller's location), `#[test]` functions, items inside `extern` blocks, and whatever
//! a macro generates (a `macro_rules!` body or an attribute macro's output is not seen here).
//! Out-of-line modules (`mod x;`) are reported, for the caller to find and rewrite their files.

use crate::body::{self, Naming};
use crate::selection::Selection;
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, ImplItem, Item, Signature, TraitItem};

/// The path of the shim crate that `cargo keel` links into an instrumented dependency.
pub const SHIM_CRATE: &str = "keel_foreign_shim";

/// A `mod x;` found in a rewritten file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModDecl {
    /// The module's full path (crate name first).
    pub module: Vec<String>,
    /// The inline modules between the file's own module and this declaration.
    pub inline: Vec<String>,
    /// Its `#[path = ".."]`, if any.
    pub path_attr: Option<String>,
}

/// Text to insert into the source at a line (1-based) and column (0-based, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insertion {
    /// 1-based line.
    pub line: usize,
    /// 0-based column, in characters.
    pub column: usize,
    /// What to insert there.
    pub text: String,
}

/// What [`instrument_file`] did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Functions rewritten.
    pub rewritten: usize,
    /// The rewrite, as insertions into the source text (see [`apply`]).
    pub insertions: Vec<Insertion>,
    /// Out-of-line modules declared in the file (rewritten or not, their files are the
    /// caller's to visit).
    pub modules: Vec<ModDecl>,
}

/// Parses `source` (a file whose module path, crate name first, is `module`) and returns it with
/// the selected functions rewritten: the original text with the wrapping inserted around each
/// body, so every original line keeps its number.
///
/// ```
/// use keel_transform::{foreign, selection::Selection};
/// let selection = Selection::parse_all(["dep"]).unwrap();
/// let source = "pub fn one() -> u8 {\n    1\n}\n";
/// let (text, report) = foreign::instrument_source(source, &["dep".to_string()], &selection).unwrap();
/// assert_eq!(report.rewritten, 1);
/// assert_eq!(text.lines().nth(1), Some("    1"));
/// ```
pub fn instrument_source(
    source: &str,
    module: &[String],
    selection: &Selection,
) -> syn::Result<(String, Report)> {
    let mut file = syn::parse_file(source)?;
    let report = instrument_file(&mut file, module, selection);
    Ok((apply(source, &report.insertions), report))
}

/// `source` with `insertions` made (each at its place in the original text).
pub fn apply(source: &str, insertions: &[Insertion]) -> String {
    let mut offsets: Vec<(usize, &str)> = Vec::with_capacity(insertions.len());
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    for insertion in insertions {
        let Some(&start) = line_starts.get(insertion.line.saturating_sub(1)) else {
            continue;
        };
        let line = &source[start..];
        let offset = line
            .char_indices()
            .nth(insertion.column)
            .map_or(source.len(), |(i, _)| start + i);
        offsets.push((offset, insertion.text.as_str()));
    }
    // Stable sort: two insertions at one place keep their order (an inner body's end before
    // the outer's, as they were recorded).
    offsets.sort_by_key(|(offset, _)| *offset);
    let mut out =
        String::with_capacity(source.len() + offsets.iter().map(|(_, t)| t.len()).sum::<usize>());
    let mut at = 0;
    for (offset, text) in offsets {
        out.push_str(&source[at..offset]);
        out.push_str(text);
        at = offset;
    }
    out.push_str(&source[at..]);
    out
}

/// Rewrites the selected functions of `file`, whose module path (crate name first) is `module`.
///
/// ```
/// use keel_transform::{foreign, selection::Selection};
/// let mut file: syn::File = syn::parse_str(
///     "pub struct R; impl R { pub fn new() -> R { R } pub const fn k() -> u8 { 1 } } mod de;",
/// ).unwrap();
/// let selection = Selection::parse_all(["dep::R::new"]).unwrap();
/// let report = foreign::instrument_file(&mut file, &["dep".to_string()], &selection);
/// assert_eq!(report.rewritten, 1);
/// assert_eq!(report.modules[0].module, ["dep", "de"]);
/// ```
pub fn instrument_file(file: &mut syn::File, module: &[String], selection: &Selection) -> Report {
    let shim = syn::Ident::new(SHIM_CRATE, proc_macro2::Span::call_site());
    let mut walk = Walk {
        selection,
        shim: quote!(::#shim),
        module: module.to_vec(),
        inline: Vec::new(),
        report: Report::default(),
    };
    for item in &mut file.items {
        walk.item(item, None);
    }
    walk.report
}

struct Walk<'a> {
    selection: &'a Selection,
    shim: proc_macro2::TokenStream,
    /// The module the walk is in (crate name first).
    module: Vec<String>,
    /// The inline modules entered since the file's own module.
    inline: Vec<String>,
    report: Report,
}

fn has_attr(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident(name))
}

fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

impl Walk<'_> {
    fn item(&mut self, item: &mut Item, scope: Option<&str>) {
        match item {
            Item::Fn(function) => {
                let naming = match scope {
                    Some(scope) => Naming::Within(scope.to_owned()),
                    None => Naming::Function,
                };
                self.function(&function.attrs, &function.sig, &mut function.block, &naming);
            }
            Item::Impl(block) => {
                let owner = body::type_label(&block.self_ty);
                let owner = scoped(scope, owner);
                for member in &mut block.items {
                    if let ImplItem::Fn(method) = member {
                        self.function(
                            &method.attrs,
                            &method.sig,
                            &mut method.block,
                            &Naming::Within(owner.clone()),
                        );
                    }
                }
            }
            Item::Trait(definition) => {
                let owner = scoped(scope, definition.ident.to_string());
                for member in &mut definition.items {
                    if let TraitItem::Fn(method) = member
                        && let Some(block) = &mut method.default
                    {
                        self.function(
                            &method.attrs,
                            &method.sig,
                            block,
                            &Naming::Within(owner.clone()),
                        );
                    }
                }
            }
            Item::Mod(nested) => {
                let name = nested.ident.to_string();
                match &mut nested.content {
                    Some((_, items)) => {
                        self.module.push(name.clone());
                        self.inline.push(name);
                        for item in items {
                            self.item(item, None);
                        }
                        self.inline.pop();
                        self.module.pop();
                    }
                    None => {
                        let mut module = self.module.clone();
                        module.push(name);
                        self.report.modules.push(ModDecl {
                            module,
                            inline: self.inline.clone(),
                            path_attr: path_attr(&nested.attrs),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn function(
        &mut self,
        attrs: &[Attribute],
        sig: &Signature,
        block: &mut Block,
        naming: &Naming,
    ) {
        if sig.constness.is_some()
            || has_attr(attrs, "track_caller")
            || has_attr(attrs, "test")
            || has_attr(attrs, "naked")
        {
            return;
        }
        let label = body::function_label(sig);
        let mut path = self.module.clone();
        if let Naming::Within(owner) = naming {
            path.extend(owner.split("::").map(str::to_owned));
        }
        path.push(label.clone());
        let scope = match naming {
            Naming::Within(owner) => format!("{owner}::{label}"),
            Naming::Function | Naming::FromSelf => label,
        };
        // The items a body declares are functions of the crate too (`outer::inner`).
        self.nested(block, &scope);
        if !self.selection.matches(&path) {
            return;
        }
        let (before, after) = body::foreign_wrapping(sig, naming, &self.shim);
        let open = block.brace_token.span.open().start();
        let close = block.brace_token.span.close().end();
        self.report.insertions.push(Insertion {
            line: open.line,
            column: open.column,
            text: before,
        });
        self.report.insertions.push(Insertion {
            line: close.line,
            column: close.column,
            text: after,
        });
        self.report.rewritten += 1;
    }

    fn nested(&mut self, block: &mut Block, scope: &str) {
        struct Nested<'w, 'a> {
            walk: &'w mut Walk<'a>,
            scope: &'w str,
        }
        impl VisitMut for Nested<'_, '_> {
            fn visit_item_mut(&mut self, item: &mut Item) {
                match item {
                    Item::Fn(_) | Item::Impl(_) | Item::Trait(_) => {
                        self.walk.item(item, Some(self.scope));
                    }
                    // A module declared in a body is unusual; left alone.
                    Item::Mod(_) => {}
                    _ => visit_mut::visit_item_mut(self, item),
                }
            }
        }
        Nested { walk: self, scope }.visit_block_mut(block);
    }
}

fn scoped(scope: Option<&str>, owner: String) -> String {
    match scope {
        Some(scope) => format!("{scope}::{owner}"),
        None => owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(source: &str, selectors: &[&str]) -> (String, Report) {
        let selection = Selection::parse_all(selectors.iter().copied()).unwrap();
        let (text, report) = instrument_source(source, &["dep".to_owned()], &selection).unwrap();
        // The result is Rust again.
        syn::parse_file(&text).unwrap();
        (text, report)
    }

    #[test]
    fn nested_bodies_keep_their_lines() {
        let source = "fn outer() -> u8 {\n    fn inner() -> u8 { 1 }\n    inner()\n}\n";
        let (text, report) = rewrite(source, &["dep"]);
        assert_eq!(report.rewritten, 2);
        assert_eq!(text.lines().count(), 4);
        assert_eq!(text.lines().nth(2), Some("    inner()"));
    }

    #[test]
    fn every_kind_of_function_with_a_body() {
        let (text, report) = rewrite(
            "fn a() {} async fn b() -> u8 { 1 } const fn c() {} \
             trait T { fn d(&self) -> u8 { 1 } fn e(&self); } \
             impl T for S { fn e(&self) {} } extern \"C\" { fn f(); } \
             #[track_caller] fn g() {} mod inner { pub fn h() {} } \
             fn outer() { fn nested() {} }",
            &["dep"],
        );
        // a, b, T::d, S::e, inner::h, outer, outer::nested
        assert_eq!(report.rewritten, 7, "{text}");
        assert!(text.contains("\"T::d\""), "{text}");
        assert!(text.contains("\"outer::nested\""), "{text}");
        assert!(!text.contains("unsafe"), "{text}");
    }

    #[test]
    fn selection_by_glob_and_item() {
        let source = "mod de { pub fn from_str() {} } mod ser { pub fn to_string() {} } \
                      struct R; impl R { fn new() {} fn other() {} }";
        assert_eq!(rewrite(source, &["dep::de::*"]).1.rewritten, 1);
        assert_eq!(rewrite(source, &["dep::R::new"]).1.rewritten, 1);
        assert_eq!(rewrite(source, &["other"]).1.rewritten, 0);
    }

    #[test]
    fn out_of_line_modules_are_reported() {
        let (_, report) = rewrite("mod a; mod b { #[path = \"x/y.rs\"] mod c; }", &["dep"]);
        assert_eq!(
            report.modules,
            [
                ModDecl {
                    module: vec!["dep".into(), "a".into()],
                    inline: vec![],
                    path_attr: None
                },
                ModDecl {
                    module: vec!["dep".into(), "b".into(), "c".into()],
                    inline: vec!["b".into()],
                    path_attr: Some("x/y.rs".into())
                },
            ]
        );
    }
}
