#[keel::instrument(err)]
fn count(input: &str) -> usize {
    input.len()
}

fn main() {}
