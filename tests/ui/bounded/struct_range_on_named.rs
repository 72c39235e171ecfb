use keel::Bounded;

#[derive(Bounded)]
#[bounded(1..=10)]
struct Config {
    level: u8,
}

#[derive(Bounded)]
struct Open {
    #[bounded(..)]
    anything: f64,
}

fn main() {}
