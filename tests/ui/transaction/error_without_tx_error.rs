#[keel::transaction]
fn insert(conn: &mut rusqlite::Connection) -> Result<(), rusqlite::Error> {
    conn.execute("INSERT INTO t VALUES (1)", [])?;
    Ok(())
}

fn main() {}
