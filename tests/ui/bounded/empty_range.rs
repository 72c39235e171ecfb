use keel::Bounded;

#[derive(Bounded)]
struct Window {
    #[bounded(10..=5)]
    reversed: u32,
    #[bounded(5..5)]
    nothing: u32,
    #[bounded(1.0..0.5)]
    ratio: f64,
}

fn main() {}
