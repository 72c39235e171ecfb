#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter)]
fn csv() {}

#[keel::registry]
pub struct NotATrait;

fn main() {}
