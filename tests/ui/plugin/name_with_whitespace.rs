#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter, name = "comma separated", aliases = ["csv", "c s v", "csv"])]
#[derive(Default)]
pub struct CsvExporter;
impl Exporter for CsvExporter {}

fn main() {}
