#[derive(keel::Compact)]
pub struct Reading {
    value: f64,
    unit: &'static str,
}

fn main() {}
