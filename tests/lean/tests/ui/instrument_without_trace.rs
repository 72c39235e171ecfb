// `#[keel::instrument]` calls keel::trace, which is behind the `trace` feature.

#[keel::instrument]
fn handle(order: u64) -> u64 {
    order * 2
}

fn main() {
    let _ = handle(21);
}
