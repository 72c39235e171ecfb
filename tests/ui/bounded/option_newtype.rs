// A bounded newtype always holds a checked value: over `Option` it is one error pointing at
// `Option<Level>`, not rustc's type errors from the generated code.
#[derive(keel::Bounded)]
#[bounded(1..=10)]
pub struct Level(Option<u8>);

fn main() {}
