#[keel::instrument]
trait Handler {
    fn handle(&self);
}

fn main() {}
