//! A crate that exists only to contribute plugins to `keel_plugin_crate::Greeter`: nothing in
//! it is ever named by the program, so the program links it only if it says
//! `use keel_plugin_crate_extra as _;` (see `keel::plugin`'s "Linking" section).

#![deny(warnings, clippy::all)]

use keel_plugin_crate::Greeter;

/// Greets in French.
#[keel::plugin(Greeter, name = "fr", aliases = ["french"])]
#[derive(Default)]
pub struct French;

impl Greeter for French {
    fn greet(&self, who: &str) -> String {
        format!("Bonjour, {who} !")
    }
}
