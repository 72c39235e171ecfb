#[keel::instrument(err)]
fn log(line: &str) {
    let _ = line;
}

fn main() {}
