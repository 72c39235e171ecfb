#[derive(keel::Compact)]
pub struct Pixel {
    #[compact(bits = 9)]
    red: u8,
}

fn main() {}
