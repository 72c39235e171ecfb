//! The linker caveat of link-time registration, shown: `keel_plugin_crate_extra` is a
//! dependency of this test too, but nothing here names it, so it is not linked and its plugin
//! (`fr`) is absent. `tests/plugin.rs` names it (`use keel_plugin_crate_extra as _;`) and finds
//! `fr`: the documented remedy.

#![deny(warnings, clippy::all)]

use keel::plugin::registry;
use keel_plugin_crate::Greeter;

#[test]
fn an_unreferenced_crate_contributes_no_plugins() {
    let greeters = registry::<dyn Greeter>();
    // The crate that declares the trait is linked (we name `Greeter`), so its plugins are here.
    assert_eq!(greeters.names(), ["en", "loud"]);
    assert!(greeters.get("fr").is_none());
}
