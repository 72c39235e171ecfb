use keel::Bounded;

#[derive(Bounded)]
struct Config {
    #[bounded(1..=10)]
    #[bounded(1..=20)]
    level: u8,
    #[bounded(0..5, 0..6)]
    stride: u8,
}

fn main() {}
