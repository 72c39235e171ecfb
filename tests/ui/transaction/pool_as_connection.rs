// A blocking function given a pool (r2d2-style) instead of a connection.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct ConnectionPool;

#[keel::transaction]
fn cleanup(pool: &mut ConnectionPool) -> Result<(), BoxError> {
    let _ = pool;
    Ok(())
}

fn main() {
    let _ = cleanup(&mut ConnectionPool);
}
