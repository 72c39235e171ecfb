use keel::Bounded;

#[derive(Bounded)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
