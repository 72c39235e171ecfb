fn main() {
    println!("{}", dep::add(1, 2));
}
