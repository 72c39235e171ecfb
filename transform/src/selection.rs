//! Which items of which crates `cargo keel` instruments: `--instrument regex` (a whole crate),
//! `--instrument 'serde_json::de::*'` (everything under a path), `--instrument
//! regex::Regex::new` (one item).

use std::fmt;

/// One `--instrument` selector, read from the command line or `[package.metadata.keel]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The crate, as rustc names it (`-` read as `_`).
    pub krate: String,
    /// The path inside the crate (empty: the whole crate).
    pub path: Vec<String>,
    /// `::*` at the end: everything under `path`.
    pub glob: bool,
}

/// A selector that is not `crate`, `crate::path` or `crate::path::*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    /// The selector as written.
    pub selector: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instrument selector `{}` {}: expected `crate`, `crate::path::item` or `crate::path::*`",
            self.selector, self.reason
        )
    }
}

impl std::error::Error for SelectorError {}

impl Selector {
    /// Reads `regex`, `regex::Regex::new`, `serde_json::de::*`.
    ///
    /// ```
    /// use keel_transform::selection::Selector;
    /// let s = Selector::parse("serde-json::de::*").unwrap();
    /// assert_eq!((s.krate.as_str(), s.path.len(), s.glob), ("serde_json", 1, true));
    /// assert!(Selector::parse("regex::*::new").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let error = |reason| SelectorError {
            selector: text.to_owned(),
            reason,
        };
        let mut segments: Vec<&str> = text.trim().split("::").collect();
        let glob = segments.last() == Some(&"*");
        if glob {
            segments.pop();
        }
        if segments.is_empty() || segments.iter().any(|s| s.is_empty()) {
            return Err(error("has an empty segment"));
        }
        let valid = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        };
        if !segments.iter().all(|s| valid(s)) {
            return Err(error(
                "has a segment that is not a name (only a final `*` may glob)",
            ));
        }
        Ok(Self {
            krate: segments[0].replace('-', "_"),
            path: segments[1..].iter().map(|s| (*s).to_owned()).collect(),
            glob,
        })
    }

    /// Whether the item at `path` (crate name first) is selected.
    pub fn matches(&self, path: &[String]) -> bool {
        let Some((krate, rest)) = path.split_first() else {
            return false;
        };
        if *krate != self.krate || rest.len() < self.path.len() {
            return false;
        }
        let prefix = rest.iter().zip(&self.path).all(|(a, b)| a == b);
        prefix && (self.path.is_empty() || self.glob || rest.len() == self.path.len())
    }

    /// Whether anything under the module at `path` can be selected (to skip whole files).
    pub fn may_select_under(&self, path: &[String]) -> bool {
        let Some((krate, rest)) = path.split_first() else {
            return false;
        };
        *krate == self.krate && rest.iter().zip(&self.path).all(|(a, b)| a == b)
    }
}

/// Every selector of one build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// In the order given.
    pub selectors: Vec<Selector>,
}

impl Selection {
    /// Reads every selector; the first bad one is the error.
    pub fn parse_all<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, SelectorError> {
        let selectors = texts
            .into_iter()
            .map(Selector::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { selectors })
    }

    /// Whether some selector names `krate` (rustc's `--crate-name`).
    pub fn selects_crate(&self, krate: &str) -> bool {
        self.selectors.iter().any(|s| s.krate == krate)
    }

    /// Whether the item at `path` (crate name first) is selected.
    pub fn matches(&self, path: &[String]) -> bool {
        self.selectors.iter().any(|s| s.matches(path))
    }

    /// Whether anything under the module at `path` can be selected.
    pub fn may_select_under(&self, path: &[String]) -> bool {
        self.selectors.iter().any(|s| s.may_select_under(path))
    }
}

impl fmt::Display for Selector {
    /// `crate`, `crate::path::item` or `crate::path::*`, the crate as rustc names it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.krate)?;
        for segment in &self.path {
            write!(f, "::{segment}")?;
        }
        if self.glob {
            f.write_str("::*")?;
        }
        Ok(())
    }
}

impl Selection {
    /// The crates selected, as rustc names them, each once, sorted.
    ///
    /// ```
    /// use keel_transform::selection::Selection;
    /// let s = Selection::parse_all(["serde-json::de::*", "regex", "serde_json::ser::*"]).unwrap();
    /// assert_eq!(s.crates(), ["regex", "serde_json"]);
    /// ```
    pub fn crates(&self) -> Vec<&str> {
        let mut crates: Vec<&str> = self.selectors.iter().map(|s| s.krate.as_str()).collect();
        crates.sort_unstable();
        crates.dedup();
        crates
    }

    /// What is selected inside `krate`, as one canonical text (its selectors, sorted, each
    /// once, comma-separated; empty when nothing is): two selections that instrument a crate
    /// alike give the same text.
    ///
    /// ```
    /// use keel_transform::selection::Selection;
    /// let s = Selection::parse_all(["serde_json::ser::*", "regex", "serde-json::de::*"]).unwrap();
    /// assert_eq!(s.of_crate("serde_json"), "serde_json::de::*,serde_json::ser::*");
    /// assert_eq!(s.of_crate("tokio"), "");
    /// ```
    pub fn of_crate(&self, krate: &str) -> String {
        let mut texts: Vec<String> = self
            .selectors
            .iter()
            .filter(|s| s.krate == krate)
            .map(Selector::to_string)
            .collect();
        texts.sort_unstable();
        texts.dedup();
        texts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn crate_glob_and_item() {
        let s = Selection::parse_all(["dep", "other::de::*", "third::Regex::new"]).unwrap();
        assert!(s.matches(&path("dep::a::b")));
        assert!(s.matches(&path("other::de::from_str")));
        assert!(!s.matches(&path("other::ser::to_string")));
        assert!(s.matches(&path("third::Regex::new")));
        assert!(!s.matches(&path("third::Regex::is_match")));
        assert!(!s.matches(&path("unlisted::f")));
        assert!(s.may_select_under(&path("other::de")));
        assert!(!s.may_select_under(&path("other::ser")));
        assert!(s.selects_crate("third") && !s.selects_crate("unlisted"));
    }

    #[test]
    fn bad_selectors_are_named() {
        let error = Selector::parse("a::::b").unwrap_err();
        assert_eq!(
            error.to_string(),
            "instrument selector `a::::b` has an empty segment: expected `crate`, `crate::path::item` or `crate::path::*`"
        );
        assert!(Selector::parse("a::b c").is_err());
    }
}
