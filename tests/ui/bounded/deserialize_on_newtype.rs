// A bounded newtype's `Deserialize` validates already.
#[derive(keel::Bounded)]
#[bounded(1..=65535, deserialize)]
pub struct Port(u16);

fn main() {}
