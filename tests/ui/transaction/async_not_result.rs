#[keel::transaction]
async fn upgrade(db: &mut tokio_postgres::Client) -> u64 {
    db.execute("UPDATE users SET tier = 'premium'", &[]).await.unwrap_or(0)
}

fn main() {}
