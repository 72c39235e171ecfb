type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn consume(event: String) -> String {
    event
}

#[keel::transaction(retry = 3)]
fn log_event(conn: &mut rusqlite::Connection, event: String) -> Result<(), BoxError> {
    conn.execute("INSERT INTO audit_log (event) VALUES (?1)", [consume(event)])?;
    Ok(())
}

fn main() {}
