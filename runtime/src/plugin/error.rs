//! [`PluginError`]: why a registry could not produce a plugin.

use super::Conflict;
use crate::audit;

/// Why a registry could not produce a plugin.
///
/// ```
/// #[keel::registry]
/// pub trait Shape {}
///
/// #[keel::plugin(Shape)]
/// #[derive(Default)]
/// struct Circle;
/// impl Shape for Circle {}
///
/// // `create` boxes the error: `*err` is the `PluginError`.
/// let err = keel::plugin::registry::<dyn Shape>().create("circel").err().unwrap();
/// match *err {
///     keel::plugin::PluginError::Unknown { suggestion, available, .. } => {
///         assert_eq!(suggestion, Some("circle"));
///         assert_eq!(available, ["circle"]);
///     }
///     _ => unreachable!("circel is not registered"),
/// }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// No plugin has this name or alias.
    #[error(
        "unknown {registry} plugin {name:?}; {}available: {}",
        did_you_mean(.suggestion),
        list_or_none(.available)
    )]
    Unknown {
        /// The trait's name.
        registry: &'static str,
        /// The name asked for.
        name: String,
        /// The closest registered name or alias, when one is close.
        suggestion: Option<&'static str>,
        /// Every registered name, sorted.
        available: Vec<&'static str>,
    },
    /// The name asked for is claimed by more than one plugin, so it resolves to none.
    #[error("ambiguous {registry} plugin name: {conflict}")]
    Duplicate {
        /// The trait's name.
        registry: &'static str,
        /// The name and every plugin claiming it.
        conflict: Conflict,
    },
    /// [`Registry::check`](super::Registry::check) found names claimed by more than one plugin.
    #[error(
        "{registry} plugin registry has {} duplicate name(s): {}",
        .conflicts.len(),
        join_conflicts(.conflicts)
    )]
    Duplicates {
        /// The trait's name.
        registry: &'static str,
        /// Every conflict, sorted by name.
        conflicts: Vec<Conflict>,
    },
    /// An audit hook refused the `plugin.create` event; nothing was constructed.
    #[error("creating {registry} plugin {name:?} was refused: {source}")]
    Denied {
        /// The trait's name.
        registry: &'static str,
        /// The plugin's registered name.
        name: &'static str,
        /// The hook's denial.
        source: audit::Denied,
    },
}

/// [`Registry::create`](super::Registry::create) and [`create_with`](super::Registry::create_with)
/// return their error boxed (`Box<PluginError>`), which keeps their `Result` two words wide; `?`
/// unboxes it where a function returns `PluginError` (and boxes [`check`](super::Registry::check)'s
/// error where one returns `Box<PluginError>`).
///
/// ```
/// #[keel::registry]
/// pub trait Shape {}
///
/// fn build(name: &str) -> Result<Box<dyn Shape>, keel::plugin::PluginError> {
///     Ok(keel::plugin::registry::<dyn Shape>().create(name)?)
/// }
/// assert!(matches!(build("square"), Err(keel::plugin::PluginError::Unknown { .. })));
/// ```
impl From<Box<PluginError>> for PluginError {
    fn from(boxed: Box<PluginError>) -> Self {
        *boxed
    }
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean {s:?}? "),
        None => String::new(),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

fn join_conflicts(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(Conflict::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_lists_what_exists_or_says_none() {
        let err = PluginError::Unknown {
            registry: "Exporter",
            name: "xml".into(),
            suggestion: None,
            available: vec![],
        };
        assert_eq!(
            err.to_string(),
            r#"unknown Exporter plugin "xml"; available: (none)"#
        );
    }
}
