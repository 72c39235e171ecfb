// `#[bounded(deserialize)]` generates a serde `Deserialize`, behind the `serde` feature.

#[derive(keel::Bounded)]
#[bounded(deserialize)]
struct Cfg {
    #[bounded(1..=64)]
    workers: u32,
}

fn main() {
    let _ = Cfg::try_new(4);
}
