use keel::Bounded;

#[derive(Bounded)]
enum Level {
    Low,
    High,
}

fn main() {}
