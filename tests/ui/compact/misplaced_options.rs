#[derive(keel::Compact)]
#[compact(packed)]
pub struct Reading {
    #[compact(intern)]
    count: u32,
    #[bounded(0..=1)]
    active: bool,
    #[compact(bits = 4)]
    #[bounded(0..=15)]
    level: u8,
    #[bounded(10..=5)]
    empty: i32,
}

fn main() {}
