type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction(retry)]
fn first(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

#[keel::transaction(retry = "3")]
fn second(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

#[keel::transaction(retry = -1)]
fn third(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

fn main() {}
