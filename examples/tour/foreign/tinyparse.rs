// A stand-in for a third-party crate's source (`tinyparse`), written without keel: the tour's
// build script rewrites it with keel_transform::foreign::instrument_source, the rewrite
// `cargo keel` applies to a dependency, and the tour compiles both the original and the
// rewritten text (examples/tour/foreign.rs).

/// Where a list failed to parse.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub at: usize,
}

pub fn parse_list(text: &str) -> Result<Vec<u16>, ParseError> {
    let mut out = Vec::new();
    for (at, item) in text.split(',').enumerate() {
        out.push(parse_item(item).ok_or(ParseError { at })?);
    }
    Ok(out)
}

pub fn parse_item(item: &str) -> Option<u16> {
    item.trim().parse().ok()
}
