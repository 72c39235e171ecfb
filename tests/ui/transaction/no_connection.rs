#[derive(Debug)]
struct AppError;

#[keel::transaction]
fn count_users(conn: &rusqlite::Connection, limit: u32) -> Result<u32, AppError> {
    let _ = (conn, limit);
    Ok(0)
}

fn main() {}
