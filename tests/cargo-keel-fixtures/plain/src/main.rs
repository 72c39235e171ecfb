//! A program that never mentions keel: `cargo keel` links keel-runtime into it (after this
//! comment, which must stay a comment).
fn main() {
    println!("{}", dep::add(1, 2));
}
