#[keel::instrument(ret)]
fn log(line: &str) {
    let _ = line;
}

fn main() {}
