#[keel::transaction]
fn upgrade(conn: &mut rusqlite::Connection) -> usize {
    conn.execute("UPDATE users SET tier = 'premium'", []).unwrap_or(0)
}

#[keel::transaction]
fn cleanup(conn: &mut rusqlite::Connection) {
    let _ = conn;
}

fn main() {}
