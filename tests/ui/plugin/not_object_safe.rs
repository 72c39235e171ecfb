#[keel::registry]
pub trait Exporter {
    fn export<W: std::fmt::Write>(&self, out: &mut W);
    fn create() -> Self;
    fn duplicate(&self) -> Self;
    fn boxed() -> Box<Self>
    where
        Self: Sized; // fine: excluded from `dyn Exporter`
    const VERSION: u32;
}

fn main() {}
