#[derive(keel::Compact)]
pub struct Packet {
    id: u32,
    payload: Vec<u8>,
}

fn main() {}
