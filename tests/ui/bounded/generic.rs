use keel::Bounded;

#[derive(Bounded)]
struct Reading<T: PartialOrd + Copy> {
    #[bounded(0..=100)]
    value: T,
}

#[derive(Bounded)]
#[bounded(0..=100)]
struct Percent<T>(T);

fn main() {}
