//! What each plugin registered ([`PluginInfo`]) and names claimed twice ([`Conflict`]).

use std::fmt;

/// What a plugin registered: its names, where it is defined, and its description.
///
/// ```
/// /// Tab-separated values.
/// ///
/// /// One row per line.
/// #[keel::plugin(Sink, name = "tsv", aliases = ["tab"])]
/// #[derive(Default)]
/// struct TsvSink;
///
/// #[keel::registry]
/// trait Sink {}
/// impl Sink for TsvSink {}
///
/// let info = keel::plugin::registry::<dyn Sink>().get("tab").unwrap();
/// assert_eq!(info.name(), "tsv");
/// assert_eq!(info.aliases(), ["tab"]);
/// assert!(info.type_path().ends_with("::TsvSink"));
/// assert_eq!(info.description(), Some("Tab-separated values.\n\nOne row per line."));
/// assert!(info.line() > 0);
/// ```
#[derive(Debug)]
pub struct PluginInfo {
    pub(super) name: &'static str,
    pub(super) aliases: &'static [&'static str],
    pub(super) type_path: &'static str,
    pub(super) file: &'static str,
    pub(super) line: u32,
    pub(super) description: Option<&'static str>,
}

impl PluginInfo {
    /// Used by `#[keel::plugin]`; not a public API.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        aliases: &'static [&'static str],
        type_path: &'static str,
        file: &'static str,
        line: u32,
        description: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            aliases,
            type_path,
            file,
            line,
            description,
        }
    }

    /// The registered name (`name = ".."`, or the type's name in snake_case).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Other names the plugin answers to (`aliases = [..]`).
    pub fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    /// The plugin type's path (`my_crate::exporters::CsvExporter`).
    pub fn type_path(&self) -> &'static str {
        self.type_path
    }

    /// The source file that defines the plugin.
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the `#[keel::plugin]` attribute in [`file`](Self::file).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The plugin type's doc comment, if it has one.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }
}

impl fmt::Display for PluginInfo {
    /// `type_path (file:line)`, as used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.type_path, self.file, self.line)
    }
}

/// One name claimed by more than one plugin.
#[derive(Clone, Debug)]
pub struct Conflict {
    pub(super) name: &'static str,
    pub(super) plugins: Vec<&'static PluginInfo>,
}

impl Conflict {
    /// The contested name or alias.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Every plugin claiming it (at least two), sorted by type path.
    pub fn plugins(&self) -> &[&'static PluginInfo] {
        &self.plugins
    }
}

impl fmt::Display for Conflict {
    /// `"csv" is claimed by a::Csv (src/a.rs:3) and b::Csv (src/b.rs:9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is claimed by ", self.name)?;
        let last = self.plugins.len() - 1;
        for (i, plugin) in self.plugins.iter().enumerate() {
            match i {
                0 => {}
                i if i == last => f.write_str(" and ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{plugin}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_names_every_claimant_with_its_location() {
        static A: PluginInfo = PluginInfo::new("csv", &[], "a::Csv", "src/a.rs", 3, None);
        static B: PluginInfo = PluginInfo::new("csv", &[], "b::Csv", "src/b.rs", 9, None);
        static C: PluginInfo = PluginInfo::new("x", &["csv"], "c::X", "src/c.rs", 1, None);
        let two = Conflict {
            name: "csv",
            plugins: vec![&A, &B],
        };
        assert_eq!(
            two.to_string(),
            r#""csv" is claimed by a::Csv (src/a.rs:3) and b::Csv (src/b.rs:9)"#
        );
        let three = Conflict {
            name: "csv",
            plugins: vec![&A, &B, &C],
        };
        assert_eq!(
            three.to_string(),
            r#""csv" is claimed by a::Csv (src/a.rs:3), b::Csv (src/b.rs:9) and c::X (src/c.rs:1)"#
        );
    }
}
