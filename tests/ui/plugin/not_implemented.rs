#[keel::registry]
pub trait Exporter {
    fn export(&self, data: &[i64]) -> String;
}

#[keel::plugin(Exporter, name = "csv")]
#[derive(Default)]
pub struct CsvExporter;

fn main() {}
