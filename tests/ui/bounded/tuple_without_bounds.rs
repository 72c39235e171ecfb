use keel::Bounded;

#[derive(Bounded)]
struct Rgb(u8, u8, u8);

#[derive(Bounded)]
#[bounded(0..=255)]
struct Pair(u16, u16);

fn main() {}
