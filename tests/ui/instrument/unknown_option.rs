#[keel::instrument(level = "debug")]
fn parse(input: &str) -> usize {
    input.len()
}

fn main() {}
