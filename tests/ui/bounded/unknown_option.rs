use keel::Bounded;

#[derive(Bounded)]
struct Config {
    #[bounded(1..=10, clamp)]
    level: u8,
    #[bounded(step = 2)]
    stride: u8,
    #[bounded(1..=10, crate = keel)]
    misplaced: u8,
}

fn main() {}
