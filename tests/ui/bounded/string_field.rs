// One error naming the types a bounded field can have, not rustc's type errors from the
// generated code.
#[derive(keel::Bounded)]
pub struct User {
    #[bounded(1..=10)]
    name: String,
}

fn main() {}
