#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter, new = CsvExporter::with_separator)]
pub struct CsvExporter(char);

impl CsvExporter {
    fn with_separator(separator: char) -> Self {
        CsvExporter(separator)
    }
}

impl Exporter for CsvExporter {}

fn main() {}
