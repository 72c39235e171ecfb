type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn consume(event: String) -> String {
    event
}

#[keel::transaction(retry = 3)]
async fn log_event(db: &mut tokio_postgres::Client, event: String) -> Result<(), BoxError> {
    db.execute("INSERT INTO audit_log (event) VALUES ($1)", &[&consume(event)]).await?;
    Ok(())
}

fn main() {}
