#[derive(keel::Compact)]
pub struct Pixel {
    #[compact(bits = 0)]
    red: u8,
}

fn main() {}
