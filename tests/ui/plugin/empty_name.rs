#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter, name = "")]
#[derive(Default)]
pub struct CsvExporter;
impl Exporter for CsvExporter {}

fn main() {}
