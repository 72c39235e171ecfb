//! Calls into the "dependencies" from a function of its own, and prints what keel saw: each
//! entry with its parent, each exit with its outcome, then the Stats table.
use keel::trace::{self, Stats};

#[keel::instrument]
fn handle(input: &str) -> Result<u32, dep::ParseError> {
    let n = dep::de::parse(input)?;
    Ok(dep::add(n, strict::double(n)))
}

#[keel::instrument]
async fn serve(n: u32) -> u32 {
    dep::wait_turns(n).await + 1
}

/// `serve` on a two-worker tokio runtime: each dependency call's entry and exit, with its
/// parent, as seen by a sink (any thread).
fn async_on_tokio() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    trace::add_sink(move |event: &trace::Event| {
        if event.name() == "keel_fixture_dep::wait_turns" {
            let what = match event.outcome() {
                Some(outcome) => format!("exit {outcome:?}"),
                None if event.is_enter() => {
                    format!("enter parent={}", event.parent_name().unwrap_or("-"))
                }
                None => return,
            };
            sink.lock().unwrap().push(what);
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let total: u32 = runtime.block_on(async {
        let tasks: Vec<_> = (0..8).map(|n| tokio::spawn(serve(n))).collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    println!("tokio total {total}");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    seen.dedup_by(|a, b| a == b);
    for line in seen {
        println!("tokio wait_turns {line}");
    }
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
        let text = dep::extra::text().len() + broken::len("abc") + dep::linked::linked() as usize;
        (ok, err.is_err(), fetched, text)
    });
    println!("results {results:?}");
    println!("build script computed {}", env!("KEEL_FIXTURE_BUILD"));
    for event in &events {
        if event.is_enter() {
            println!(
                "enter {} parent={}",
                event.name(),
                event.parent_name().unwrap_or("-")
            );
        } else if let Some(outcome) = event.outcome() {
            println!("exit {} {outcome:?}", event.name());
        }
    }
    println!("{}", stats.report());
    async_on_tokio();
}
