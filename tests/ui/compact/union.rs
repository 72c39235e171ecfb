#[derive(keel::Compact)]
pub union Bits {
    int: u32,
    float: f32,
}

fn main() {}
