#[keel::instrument(args(id, user))]
fn load(id: u64, conn: &str) -> usize {
    conn.len() + id as usize
}

fn main() {}
