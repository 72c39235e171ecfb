type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction]
async fn fetch(conn: &mut rusqlite::Connection) -> Result<(), BoxError> {
    let _ = conn;
    Ok(())
}

fn main() {}
