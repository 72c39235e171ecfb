//! A dependency: plain fns, a Result-returning one, an async fn, a method, a `#[path]` module and
//! an `include_str!`.
#![deny(warnings)]

pub mod de;
#[path = "extra/text.rs"]
pub mod extra;

/// Why `parse` failed.
#[derive(Debug)]
pub struct ParseError(pub String);

pub fn add(a: u32, b: u32) -> u32 {
    Counter::new().bump(a) + b
}

pub struct Counter(u32);

impl Counter {
    pub fn new() -> Self {
        Counter(0)
    }
    pub fn bump(mut self, by: u32) -> u32 {
        self.0 += by;
        self.0
    }
}

pub async fn fetch(n: u32) -> u32 {
    std::future::ready(n).await * 2
}

pub const fn constant() -> u32 {
    7
}
