// serde's own `derive(Deserialize)` would fill `workers` directly, skipping its bounds:
// `#[serde(..)]` on a Bounded struct without `#[bounded(deserialize)]` is refused.
#[derive(keel::Bounded)]
pub struct Cfg {
    #[bounded(1..=64)]
    #[serde(rename = "threads")]
    workers: u32,
}

fn main() {}
