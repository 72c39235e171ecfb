#[derive(keel::Compact)]
#[compact(max_size = 16)]
pub struct Wide {
    a: u64,
    b: u64,
    c: u64,
}

fn main() {}
