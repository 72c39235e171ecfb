#[derive(keel::Compact)]
pub struct Queue {
    len: u32,
    head: u32,
}

fn main() {}
