struct Opaque;

#[keel::instrument(ret)]
fn make() -> Opaque {
    Opaque
}

fn main() {}
