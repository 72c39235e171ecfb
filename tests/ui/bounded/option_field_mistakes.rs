// An `Option<T>` field is bounded through `T`: the usual checks apply to `T`, each at its token,
// and an `Option` inside an `Option` is refused.
#[derive(keel::Bounded)]
pub struct Limits {
    #[bounded(1..=10)]
    nested: Option<Option<u8>>,
    #[bounded(1..=10)]
    name: Option<String>,
    #[bounded(1..=300)]
    small: std::option::Option<u8>,
    #[bounded(1..=10)]
    fine: Option<u8>,
}

fn main() {}
