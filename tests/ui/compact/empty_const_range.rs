const LOW: i32 = 10;
const HIGH: i32 = 5;

#[derive(keel::Compact)]
pub struct Window {
    #[bounded(LOW..=HIGH)]
    size: i32,
}

fn main() {}
