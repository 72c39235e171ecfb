//! Checks a plugin: its names are non-empty and without whitespace, none claimed twice by this
//! plugin, and the type is not generic. Errors only the type checker can see (the type does not
//! implement the trait, the trait has no registry, no constructor) come from generated code
//! spanned at the user's token, with messages set by `#[diagnostic::on_unimplemented]` in the
//! runtime.

use super::model::{Options, Plugin, PluginType};
use super::naming;
use crate::common::errors::Errors;

/// The checked plugin, or `None` with every mistake in `errors`.
pub fn validate(options: Options, ty: PluginType, errors: &mut Errors) -> Option<Plugin> {
    let PluginType {
        ident, generics, ..
    } = &ty;
    if !generics.params.is_empty() {
        let params: Vec<String> = generics
            .params
            .iter()
            .map(|param| match param {
                syn::GenericParam::Type(param) => param.ident.to_string(),
                syn::GenericParam::Const(param) => param.ident.to_string(),
                syn::GenericParam::Lifetime(param) => param.lifetime.to_string(),
            })
            .collect();
        errors.push_spanned(
            generics,
            format!(
                "a plugin type cannot be generic: the registry constructs `{ident}` by name, with no way to choose `{}`; register a concrete type instead, such as a newtype around one instantiation of `{ident}`",
                params.join("`, `")
            ),
        );
    }
    let names = validate_names(&options, &naming::snake_case(&ident.to_string()), errors);
    errors.is_empty().then_some(Plugin { options, ty, names })
}

/// Names must be valid and claimed once; returns the name and aliases as strings.
fn validate_names(options: &Options, default_name: &str, errors: &mut Errors) -> Vec<String> {
    let mut claimed: Vec<String> = Vec::new();
    let name = match &options.name {
        Some(lit) => errors.ok(naming::validate(lit, "name")),
        None => Some(default_name.to_owned()),
    };
    if let Some(name) = name {
        claimed.push(name);
    }
    for alias in &options.aliases {
        if let Some(value) = errors.ok(naming::validate(alias, "alias")) {
            if claimed.contains(&value) {
                errors.push_spanned(alias, format!("{value:?} is already a name of this plugin"));
            } else {
                claimed.push(value);
            }
        }
    }
    claimed
}
