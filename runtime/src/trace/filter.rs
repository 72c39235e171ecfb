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
    /// everything through. The first invalid directive is an error (see [`Filter::parse_lossy`]
    /// for the forgiving form `KEEL_TRACE` uses).
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let (filter, mut errors) = Self::parse_lossy(text);
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// Parses like [`Filter::parse`], but skips each invalid directive instead of failing:
    /// returns the filter made of the valid ones and the error of every invalid one, in order
    /// (what `KEEL_TRACE` does, warning about each, as `RUST_LOG` users expect).
    ///
    /// ```
    /// use keel_runtime::trace::Filter;
    /// let (filter, errors) = Filter::parse_lossy("myapp::db, myapp::http=maybe, 9lives");
    /// assert_eq!(filter.to_string(), "myapp::db");
    /// assert_eq!(errors.len(), 2);
    /// assert_eq!(
    ///     errors[0].to_string(),
    ///     "trace filter directive `myapp::http=maybe` must end in `=on` or `=off`, got `=maybe`"
    /// );
    /// ```
    pub fn parse_lossy(text: &str) -> (Self, Vec<FilterError>) {
        let mut directives = Vec::new();
        let mut errors = Vec::new();
        for raw in text.split(',') {
            let directive = raw.trim();
            if directive.is_empty() {
                continue;
            }
            match parse_directive(directive) {
                Ok(parsed) => directives.push(parsed),
                Err(error) => errors.push(error),
            }
        }
        let has_on = directives.iter().any(|(_, on)| *on);
        (Self { directives, has_on }, errors)
    }

    /// True when the filter has no directive (it lets everything through).
    ///
    /// ```
    /// assert!(keel_runtime::trace::Filter::parse(" , ").unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.directives.is_empty()
    }

    /// The directives (as written, without `=on`/`=off`) that match no function instrumented
    /// with `#[keel::instrument]` anywhere in the program: most likely misspelt. Call sites are
    /// static, so the answer is known before the first call. Paths under `keel` (keel's own
    /// sites, such as `keel::tx::…`, made at run time) are never reported; neither is a directive
    /// that could name a type of a module holding instrumented methods (their type is known
    /// only when first called). Sites declared by hand with [`CallSite::new`](super::CallSite)
    /// are not known here.
    ///
    /// ```
    /// use keel_runtime::trace::Filter;
    /// let filter = Filter::parse("nosuchcrate::db=off").unwrap();
    /// assert_eq!(filter.directives_matching_no_call_site(), ["nosuchcrate::db"]);
    /// ```
    pub fn directives_matching_no_call_site(&self) -> Vec<&str> {
        let sites: Vec<_> = super::call_site::registered().collect();
        let may_name = |path: &str| {
            sites.iter().any(|(site, named_by_self)| {
                matches_prefix(site.name(), path)
                    // `module::Type` or `module::Type::method` of a method named from `Self`.
                    || (*named_by_self
                        && matches_prefix(path, site.module_path())
                        && path[site.module_path().len()..].matches("::").count() <= 2)
            })
        };
        self.directives
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| !matches_prefix(path, "keel") && !may_name(path))
            // A dependency's function instrumented by `cargo keel` is known at its first call.
            .filter(|path| !super::foreign::may_name(path))
            .collect()
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

/// One trimmed, non-empty directive: its path and whether it turns tracing on.
fn parse_directive(directive: &str) -> Result<(String, bool), FilterError> {
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
    Ok((path.to_owned(), on))
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

    #[test]
    fn lossy_parse_keeps_the_valid_directives_in_order() {
        let (f, errors) = Filter::parse_lossy("a=maybe, b, c::=off, d=off, 1x");
        assert_eq!(f.to_string(), "b,d=off");
        let wrong: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            wrong,
            [
                "trace filter directive `a=maybe` must end in `=on` or `=off`, got `=maybe`",
                "trace filter directive `c::=off` must be a path such as `myapp::db`, got `c::`",
                "trace filter directive `1x` must be a path such as `myapp::db`, got `1x`",
            ]
        );
        assert!(f.allows("b::x") && !f.allows("d::x") && !f.allows("a::x"));
        // The strict form reports the first mistake.
        assert_eq!(Filter::parse("a=maybe, b").unwrap_err(), errors[0]);
    }

    #[test]
    fn unmatched_directives_ignore_keel_and_known_sites() {
        static SITE: crate::trace::CallSite =
            crate::trace::CallSite::new("unit::svc::load", "unit::svc", "svc.rs", 1);
        static METHOD: crate::trace::CallSite =
            crate::trace::CallSite::new("unit::repo::get", "unit::repo", "repo.rs", 1);
        inventory::submit!(crate::trace::call_site::Registration::new(&SITE, false));
        inventory::submit!(crate::trace::call_site::Registration::new(&METHOD, true));
        let f = Filter::parse(
            "unit::svc::load, unit::svc, unit, unit::repo::Repo::get, unit::repo::Repo, \
             keel::tx, keel, unit::svcx, unit::svc::lod, unit::svc::Repo, other=off",
        )
        .unwrap();
        assert_eq!(
            f.directives_matching_no_call_site(),
            ["unit::svcx", "unit::svc::lod", "unit::svc::Repo", "other"]
        );
    }
}
