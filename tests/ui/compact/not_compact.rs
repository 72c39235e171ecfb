pub struct Opaque {
    pub inner: u32,
}

#[derive(keel::Compact)]
pub struct Holder {
    id: u32,
    opaque: Opaque,
}

fn main() {}
