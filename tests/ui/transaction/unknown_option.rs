type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction(timeout = 5, nested = "inner")]
fn transfer(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

#[keel::transaction(isolation = "snapshot", behavior = "lazy", name = "a", name = "b")]
fn report(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

fn main() {}
