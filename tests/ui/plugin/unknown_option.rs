#[keel::registry]
pub trait Exporter {}

#[keel::plugin(Exporter, name = "csv", alias = ["comma"])]
#[derive(Default)]
pub struct CsvExporter;
impl Exporter for CsvExporter {}

#[keel::registry(arguments = u32)]
pub trait Loader {}

fn main() {}
