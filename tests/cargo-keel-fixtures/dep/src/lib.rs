//! A dependency: plain fns, a Result-returning one, an async fn, a method, a `#[path]` module and
//! an `include_str!`.
#![deny(warnings)]

pub mod de;
#[path = "extra/text.rs"]
pub mod extra;
/// A symbolic link to `../linked_target.rs`.
pub mod linked;

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

/// Yields `turns` times (each a `Pending` that wakes itself), then returns `turns`: its task may
/// move between worker threads at each turn.
pub async fn wait_turns(turns: u32) -> u32 {
    for _ in 0..turns {
        YieldOnce(false).await;
    }
    turns
}

struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

pub const fn constant() -> u32 {
    7
}
