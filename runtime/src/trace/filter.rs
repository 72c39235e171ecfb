//! Which functions are traced: `KEEL_TRACE=myapp::db,myapp::http=off`.

use core::fmt;

/// A list of function-name prefixes, each turned on or off.
///
/// A directive is a path (`myapp::db`, `myapp::db::Repo::load`) optionally followed by `=on` or
/// `=off`. A path matches a function whose qualified name equals it or continues it after `::`
/// (`myapp::db` matches `myapp::db::load`, not `myapp::dbx::load`). The longest matching directive
/// decides (a custom `name = "accounts.login"` is matched the same way, so write it in full).
/// A function that no directive matches is traced only if the filter has no `on`
/// directive at all (so `myapp::http=off` alone means "everything but `myapp::http`").
///
/// ```
/// use keel_runtime::trace::Filter;
/// let filter = Filter::parse("myapp::db, myapp::db::migrate=off").unwrap();
/// assert!(filter.allows("myapp::db::load"));
/// assert!(!filter.allows("myapp::db::migrate::run"));
/// assert!(!filter.allows("myapp::http::serve"));      // only `myapp::db` is on
///
/// let all_but = Filter::parse("myapp::http=off").unwrap();
/// assert!(all_but.allows("myapp::db::load"));
/// assert!(!all_but.allows("myapp::http::serve"));
/// assert_eq!(all_but.to_string(), "myapp::http=off");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    directives: Vec<(String, bool)>,
    has_on: bool,
}

/// A filter that could not be parsed; names the directive and what is wrong with it.
///
/// ```
/// use keel_runtime::trace::Filter;
/// let err = Filter::parse("myapp::db=maybe").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "trace filter directive `myapp::db=maybe` must end in `=on` or `=off`, got `=maybe`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The text after `=` is neither `on` nor `off`.
    #[error("trace filter directive `{directive}` must end in `=on` or `=off`, got `={value}`")]
    BadSwitch {
        /// The whole directive.
        directive: String,
        /// What followed `=`.
        value: String,
    },
    /// The path part is not a `::`-separated list of identifiers.
    #[error(
        "trace filter directive `{directive}` must be a path such as `myapp::db`, got `{path}`"
    )]
    BadPath {
        /// The whole directive.
        directive: String,
        /// The offending path.
        path: String,
    },
}

impl Filter {
    /// Parses a comma-separated list of directives; empty entries are ignored, so `""` lets
    /// everything through.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let mut directives = Vec::new();
        for raw in text.split(',') {
            let directive = raw.trim();
            if directive.is_empty() {
                continue;
            }
            let (path, on) = match directive.split_once('=') {
                None => (directive, true),
                Some((path, value)) => match value.trim() {
                    "on" => (path.trim(), true),
                    "off" => (path.trim(), false),
                    other => {
                        return Err(FilterError::BadSwitch {
                            directive: directive.to_owned(),
                            value: other.to_owned(),
                        });
                    }
                },
            };
            if !is_path(path) {
                return Err(FilterError::BadPath {
                    directive: directive.to_owned(),
                    path: path.to_owned(),
                });
            }
            directives.push((path.to_owned(), on));
        }
        let has_on = directives.iter().any(|(_, on)| *on);
        Ok(Self { directives, has_on })
    }

    /// Whether a function with this qualified name is traced.
    pub fn allows(&self, name: &str) -> bool {
        self.directives
            .iter()
            .filter(|(path, _)| matches_prefix(name, path))
            .max_by_key(|(path, _)| path.len())
            .map_or(!self.has_on, |(_, on)| *on)
    }
}

impl core::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(text: &str) -> Result<Self, FilterError> {
        Self::parse(text)
    }
}

impl fmt::Display for Filter {
    /// The normalised directive list, parseable again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (path, on)) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(path)?;
            if !on {
                f.write_str("=off")?;
            }
        }
        Ok(())
    }
}

fn matches_prefix(name: &str, path: &str) -> bool {
    name.strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

fn is_path(path: &str) -> bool {
    !path.is_empty()
        && path.split("::").all(|segment| {
            let mut chars = segment.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_directive_wins() {
        let f = Filter::parse("a,a::b=off,a::b::c").unwrap();
        assert!(f.allows("a::x"));
        assert!(!f.allows("a::b::x"));
        assert!(f.allows("a::b::c::d"));
        assert!(!f.allows("z::y"));
        assert!(!f.allows("ab::x"), "prefix must end at a `::` boundary");
    }

    #[test]
    fn empty_filter_allows_everything() {
        let f = Filter::parse(" , ").unwrap();
        assert!(f.allows("anything::at_all"));
    }

    #[test]
    fn bad_paths_are_rejected() {
        let err = Filter::parse("a::,b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "trace filter directive `a::` must be a path such as `myapp::db`, got `a::`"
        );
        assert!(Filter::parse("my app").is_err());
    }
}
