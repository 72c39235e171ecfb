//! `sys.addaudithook` → `keel::audit`: irremovable hooks that see and veto sensitive operations.

use crate::measure::{Table, ns, per_call};
use keel::audit::{self, Denied};
use std::hint::black_box;

pub fn run() {
    let quiet = per_call(5_000_000, || audit::emit(black_box("tour.read"), &[]));

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
    let mut table = Table::new(&["audit::emit, per event (median of 7 rounds)", "time"]);
    table
        .row(&[&"no hook installed (one atomic load)", &ns(quiet)])
        .row(&[&"through one hook", &ns(hooked)]);
    table.print();
}
