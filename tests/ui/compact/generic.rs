#[derive(keel::Compact)]
pub struct Wrapper<T> {
    value: T,
}

fn main() {}
