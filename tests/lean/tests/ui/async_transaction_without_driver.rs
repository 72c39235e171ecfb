// `#[keel::transaction]` on an `async fn` runs on tokio-postgres or sqlx, each behind a feature.

struct Db;

#[derive(Debug)]
enum AppError {
    Tx(keel::tx::TxError),
}

impl From<keel::tx::TxError> for AppError {
    fn from(e: keel::tx::TxError) -> Self {
        AppError::Tx(e)
    }
}

#[keel::transaction]
async fn record(db: &mut Db, event: &str) -> Result<usize, AppError> {
    let _ = db;
    Ok(event.len())
}

fn main() {
    let _ = record;
}
