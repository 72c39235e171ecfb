// `retry` on an error type that does not say which of its errors are transient.
#[derive(Debug)]
enum AppError {
    Db(tokio_postgres::Error),
    Tx(keel::tx::TxError),
}

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<keel::tx::TxError> for AppError {
    fn from(e: keel::tx::TxError) -> Self {
        Self::Tx(e)
    }
}

#[keel::transaction(retry = 3, isolation = "serializable")]
async fn transfer(db: &mut tokio_postgres::Client, from: i64, to: i64) -> Result<(), AppError> {
    db.execute("UPDATE accounts SET cents = cents - 1 WHERE id = $1", &[&from]).await?;
    db.execute("UPDATE accounts SET cents = cents + 1 WHERE id = $1", &[&to]).await?;
    Ok(())
}

fn main() {}
