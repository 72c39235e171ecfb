//! A program that never mentions keel: `cargo keel` links keel-runtime into it (after this
//! comment, which must stay a comment).

fn sum(a: u32, b: u32) -> u32 {
    dep::add(a, b)
}

fn main() {
    println!("{}", sum(1, 2));
}

#[cfg(test)]
mod tests {
    // Its own unit tests: with the crate itself selected, `sum` is instrumented in them too.
    #[test]
    fn sums() {
        assert_eq!(super::sum(1, 2), 3);
    }
}
