#[keel::instrument]
struct Config {
    port: u16,
}

fn main() {}
