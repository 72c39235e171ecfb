type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[keel::transaction]
fn append(buffer: &mut Vec<u8>) -> Result<(), BoxError> {
    buffer.push(1);
    Ok(())
}

fn main() {}
