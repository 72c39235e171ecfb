// The same range checks, and messages, as `#[derive(Bounded)]`: not rustc's "literal out of
// range" errors from the generated code.
#[derive(keel::Compact)]
pub struct Reading {
    #[bounded(0..=300)]
    n: u8,
}

fn main() {}
