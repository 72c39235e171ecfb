// A blocking driver's connection in an `async fn`: keel says which async drivers it takes.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction]
async fn fetch(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

fn main() {}
