#[derive(keel::Compact)]
pub struct Sample {
    #[compact(bits = 16)]
    value: f64,
}

fn main() {}
