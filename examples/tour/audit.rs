//! `sys.addaudithook` → `keel::audit`: irremovable hooks that see and veto sensitive operations.

use crate::measure::{ns, per_call};
use keel::audit::{self, Denied};
use std::hint::black_box;

pub fn run() {
    let quiet = per_call(10_000_000, || audit::emit(black_box("tour.read"), &[]));
    println!(
        "emit with no hook installed: {} per event (one atomic load)",
        ns(quiet)
    );

    audit::add_hook(|event| {
        if event.name() == "tour.delete" {
            return Err(Denied::new("the tour is read-only"));
        }
        Ok(())
    })
    .expect("no hook denies adding this one");

    let path = "/srv/data.db";
    match audit::emit("tour.delete", &[("path", &path)]) {
        Ok(()) => println!("tour.delete allowed (unexpected)"),
        Err(denied) => println!("tour.delete(path={path:?}) -> {denied}"),
    }
    let hooked = per_call(1_000_000, || audit::emit(black_box("tour.read"), &[]));
    println!("emit through one hook: {} per event", ns(hooked));
}
