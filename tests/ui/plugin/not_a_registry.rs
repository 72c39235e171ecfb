pub trait Exporter {
    fn export(&self, data: &[i64]) -> String;
}

#[keel::plugin(Exporter)]
#[derive(Default)]
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn export(&self, data: &[i64]) -> String {
        format!("{data:?}")
    }
}

fn main() {}
