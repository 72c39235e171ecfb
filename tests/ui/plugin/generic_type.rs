#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter)]
#[derive(Default)]
pub struct Separated<const SEP: char, T> {
    items: Vec<T>,
}

impl<const SEP: char, T: 'static> Exporter for Separated<SEP, T> {}

fn main() {}
