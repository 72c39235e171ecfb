use keel::Bounded;

#[derive(Bounded)]
struct Mixed {
    #[bounded(0.5..=10.0)]
    float_for_int: u8,
    #[bounded(0..=1)]
    int_for_float: f64,
    #[bounded(..=300)]
    too_big: u8,
    #[bounded(-5..)]
    negative_unsigned: u32,
    #[bounded(5u16..)]
    wrong_suffix: u8,
    #[bounded(..=i64::MAX)]
    wrong_limit: u32,
}

fn main() {}
