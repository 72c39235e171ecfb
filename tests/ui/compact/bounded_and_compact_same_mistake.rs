// Both derives read `#[bounded(..)]` with one parser: one mistake, one error (the same message
// from each derive, which rustc shows once).
#[derive(keel::Bounded, keel::Compact)]
pub struct Reading {
    #[bounded(0..=300)]
    n: u8,
}

fn main() {}
