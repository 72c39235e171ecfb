use keel::Bounded;

#[derive(Bounded)]
#[bounded(crate = not_keel)]
struct Config {
    #[bounded(1..=10)]
    level: u8,
}

fn main() {}
