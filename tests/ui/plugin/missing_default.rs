#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter, name = "csv")]
pub struct CsvExporter {
    separator: char,
}

impl Exporter for CsvExporter {}

fn main() {
    let _ = CsvExporter { separator: ',' }.separator;
}
