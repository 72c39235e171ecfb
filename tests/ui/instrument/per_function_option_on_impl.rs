struct Repo;

#[keel::instrument(ret)]
impl Repo {
    fn len(&self) -> usize {
        0
    }
}

fn main() {}
