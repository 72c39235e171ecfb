#[keel::transaction]
async fn insert(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *conn).await?;
    Ok(())
}

fn main() {}
