#[derive(Debug)]
struct AppError;

#[keel::transaction]
async fn count_users(client: &tokio_postgres::Client, limit: u32) -> Result<u32, AppError> {
    let _ = (client, limit);
    Ok(0)
}

fn main() {}
