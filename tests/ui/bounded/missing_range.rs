use keel::Bounded;

#[derive(Bounded)]
struct Config {
    #[bounded]
    port: u16,
    #[bounded()]
    timeout: u32,
}

fn main() {}
