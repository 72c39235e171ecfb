use keel::Bounded;

#[derive(Bounded)]
struct Port(u16);

#[derive(Bounded)]
struct Nothing;

fn main() {}
