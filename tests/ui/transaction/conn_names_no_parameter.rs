#[derive(Debug)]
struct AppError;

#[keel::transaction(conn = db)]
fn transfer(conn: &mut rusqlite::Connection, cents: i64) -> Result<(), AppError> {
    let _ = (conn, cents);
    Ok(())
}

fn main() {}
