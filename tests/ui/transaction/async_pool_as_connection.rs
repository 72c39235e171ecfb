// A pool where a connection belongs: one error, at the parameter, naming the fix.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction(retry = 3)]
async fn transfer(pool: &mut sqlx::SqlitePool, cents: i64) -> Result<(), BoxError> {
    sqlx::query("UPDATE accounts SET cents = cents + ?1").bind(cents).execute(&*pool).await?;
    Ok(())
}

#[keel::transaction]
async fn report(pool: &sqlx::Pool<sqlx::Postgres>) -> Result<(), BoxError> {
    let _ = pool;
    Ok(())
}

// The function is still there: calling it adds no "cannot find function" error.
async fn caller(mut pool: sqlx::SqlitePool) -> Result<(), BoxError> {
    transfer(&mut pool, 5).await?;
    report(&sqlx::PgPool::connect_lazy("postgres://").unwrap()).await
}

fn main() {
    let _ = caller;
}
