//! Calls into the "dependencies" from a function of its own, and prints what keel saw: each
//! entry with its parent, each exit with its outcome, then the Stats table.
use keel::trace::{self, Stats};

#[keel::instrument]
fn handle(input: &str) -> Result<u32, dep::ParseError> {
    let n = dep::de::parse(input)?;
    Ok(dep::add(n, strict::double(n)))
}

fn poll_once<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

fn main() {
    trace::enable();
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    let (results, events) = trace::capture(|| {
        let ok = handle("20");
        let err = handle("x");
        let fetched = poll_once(dep::fetch(3));
        let text = dep::extra::text().len() + broken::len("abc");
        (ok, err.is_err(), fetched, text)
    });
    println!("results {results:?}");
    for event in &events {
        if event.is_enter() {
            println!("enter {} parent={}", event.name(), event.parent_name().unwrap_or("-"));
        } else if let Some(outcome) = event.outcome() {
            println!("exit {} {outcome:?}", event.name());
        }
    }
    println!("{}", stats.report());
}
