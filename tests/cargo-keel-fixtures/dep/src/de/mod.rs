use crate::ParseError;

pub fn parse(input: &str) -> Result<u32, ParseError> {
    let n: u32 = input.trim().parse().map_err(|_| ParseError(input.to_owned()))?;
    Ok(n)
}
