//! A crate of the dependency graph that declares a plugin registry and registers plugins in it,
//! for `tests/plugin.rs`. keel is renamed here (`kl`), so every attribute says `crate = kl`.

#![deny(warnings, clippy::all, missing_docs)]
// What the macros generate must pass these in a user crate too.
#![forbid(unsafe_code)]

/// Greets someone.
#[kl::registry(crate = kl)]
pub trait Greeter: Send + Sync {
    /// The greeting for `who`.
    fn greet(&self, who: &str) -> String;
}

/// Greets in English.
#[kl::plugin(Greeter, name = "en", aliases = ["english"], crate = kl)]
#[derive(Default)]
pub struct English;

impl Greeter for English {
    fn greet(&self, who: &str) -> String {
        format!("Hello, {who}!")
    }
}

/// Greets loudly. The test crate registers another plugin under `loud`: a duplicate.
#[kl::plugin(Greeter, name = "loud", crate = kl)]
#[derive(Default)]
pub struct Shout;

impl Greeter for Shout {
    fn greet(&self, who: &str) -> String {
        format!("HELLO, {}!", who.to_uppercase())
    }
}
