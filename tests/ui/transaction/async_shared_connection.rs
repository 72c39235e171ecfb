// A shared reference to a connection: the fix is `&mut`, said at the parameter.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction]
async fn insert(conn: &sqlx::SqliteConnection, x: i64) -> Result<(), BoxError> {
    let _ = (conn, x);
    Ok(())
}

#[keel::transaction(conn = db)]
async fn fetch(db: &sqlx::PgConnection) -> Result<(), BoxError> {
    let _ = db;
    Ok(())
}

fn main() {
    let _ = (insert, fetch);
}
