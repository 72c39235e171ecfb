//! `#[keel::instrument]` and `keel::trace`: names, outcomes, async, methods, modules, options,
//! the switch, the filter, `Stats`, and the `tracing` bridge — observed through `capture` (and,
//! for what the switch and the filter decide, through a sink).

#![deny(warnings, clippy::all)]

use keel::trace::{self, Event, Filter, Outcome, Stats};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// Tests change the global switch and filter: run them one at a time, from a known state.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    trace::set_filter(None);
    trace::enable();
    guard
}

/// `(name, is_enter)` pairs, for compact assertions.
fn calls(events: &[Event]) -> Vec<(&'static str, bool)> {
    events.iter().map(|e| (e.name(), e.is_enter())).collect()
}

/// The events the installed sinks receive from this thread while `f` runs. Unlike `capture`,
/// which records every call whatever the switch and the filter, sinks obey both.
fn delivered(f: impl FnOnce()) -> Vec<Event> {
    thread_local! {
        static SEEN: std::cell::RefCell<Option<Vec<Event>>> = const { std::cell::RefCell::new(None) };
    }
    // Tests that use it hold `exclusive()`; others clear the sinks.
    trace::clear_sinks();
    trace::add_sink(|event: &Event| {
        SEEN.with_borrow_mut(|seen| seen.as_mut().map(|seen| seen.push(event.clone())));
    });
    SEEN.set(Some(Vec::new()));
    f();
    trace::clear_sinks();
    SEEN.take().unwrap_or_default()
}

fn outcomes(events: &[Event]) -> Vec<Outcome> {
    events.iter().filter_map(|e| e.outcome().cloned()).collect()
}

// ---------------------------------------------------------------- free functions and outcomes

#[derive(Debug, PartialEq)]
struct ParseError(String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse {:?}", self.0)
    }
}

#[keel::instrument]
fn parse(input: &str) -> Result<i64, ParseError> {
    let trimmed = input.trim();
    let value = trimmed.parse().map_err(|_| ParseError(trimmed.into()))?;
    if value < 0 {
        return Err(ParseError("negative".into()));
    }
    Ok(value)
}

#[keel::instrument]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[keel::instrument]
fn evaluate(text: &str) -> Result<i64, ParseError> {
    let (a, b) = text.split_once('+').ok_or(ParseError(text.into()))?;
    Ok(add(parse(a)?, parse(b)?))
}

#[test]
fn enter_and_exit_nest_with_qualified_names() {
    let _g = exclusive();
    let (value, events) = trace::capture(|| evaluate("1 + 2"));
    assert_eq!(value, Ok(3));
    assert_eq!(
        calls(&events),
        [
            ("instrument::evaluate", true),
            ("instrument::parse", true),
            ("instrument::parse", false),
            ("instrument::parse", true),
            ("instrument::parse", false),
            ("instrument::add", true),
            ("instrument::add", false),
            ("instrument::evaluate", false),
        ]
    );
    assert!(outcomes(&events).iter().all(Outcome::is_ok));
    // Entry and exit of one call share an id; different calls do not.
    assert_eq!(events[0].call_id(), events[7].call_id());
    assert_ne!(events[1].call_id(), events[3].call_id());
    assert!(events[7].elapsed().unwrap() >= events[2].elapsed().unwrap());
    assert_eq!(events[1].to_string(), "enter instrument::parse");
}

#[test]
fn call_site_says_where_the_function_is() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| add(1, 2));
    let site = events[0].call_site();
    assert_eq!(site.name(), "instrument::add");
    assert_eq!(site.module_path(), "instrument");
    assert!(site.file().ends_with("instrument.rs"), "{}", site.file());
    let line = site.line() as usize;
    let source = include_str!("instrument.rs");
    assert!(
        source.lines().nth(line - 1).unwrap().contains("fn add("),
        "line {line} is not `fn add`"
    );
    // One static call site per function: every call reports the same one.
    let (_, again) = trace::capture(|| add(3, 4));
    assert!(std::ptr::eq(site, again[0].call_site()));
}

#[test]
fn errors_are_recorded_with_their_display_text() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        let _ = parse("x");
        let _ = parse("-5");
        let _ = evaluate("1 + y");
    });
    assert_eq!(
        outcomes(&events),
        [
            Outcome::Err("cannot parse \"x\"".into()),
            Outcome::Err("cannot parse \"negative\"".into()),
            Outcome::Ok, // parse("1")
            Outcome::Err("cannot parse \"y\"".into()),
            Outcome::Err("cannot parse \"y\"".into()), // evaluate, through `?`
        ]
    );
}

type IoResult<T> = std::io::Result<T>;

#[keel::instrument]
fn open_config(path: &str) -> IoResult<String> {
    std::fs::read_to_string(path)
}

#[derive(Debug)]
struct NoDisplay;

#[keel::instrument]
fn debug_only_error() -> Result<(), NoDisplay> {
    Err(NoDisplay)
}

#[keel::instrument(err(Debug))]
fn explicit_debug_error() -> Result<u8, ParseError> {
    Err(ParseError("z".into()))
}

#[test]
fn errors_behind_aliases_and_without_display_are_recorded() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        let _ = open_config("/nonexistent/keel/config.toml");
        let _ = debug_only_error();
        let _ = explicit_debug_error();
    });
    let outcomes = outcomes(&events);
    assert!(
        matches!(&outcomes[0], Outcome::Err(text) if text.contains("No such file")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Err("NoDisplay".into()));
    assert_eq!(outcomes[2], Outcome::Err("ParseError(\"z\")".into()));
}

#[keel::instrument]
fn explode(n: u32) -> u32 {
    if n > 2 {
        panic!("too big: {n}");
    }
    n
}

#[keel::instrument]
fn diverge(message: &str) -> ! {
    panic!("{message}")
}

#[test]
fn panics_are_recorded_and_propagate() {
    let _g = exclusive();
    let (caught, events) = trace::capture(|| {
        let first = catch_unwind(|| explode(1));
        let second = catch_unwind(|| explode(3));
        let third = catch_unwind(|| diverge("never returns"));
        (first.is_ok(), second.is_err(), third.is_err())
    });
    assert_eq!(caught, (true, true, true));
    assert_eq!(
        outcomes(&events),
        [Outcome::Ok, Outcome::Panicked, Outcome::Panicked]
    );
    assert_eq!(events[4].name(), "instrument::diverge");
}

// ---------------------------------------------------------------- options

#[derive(Debug, Clone, PartialEq)]
struct User {
    id: u64,
    name: String,
}

#[keel::instrument(args(id, name), ret)]
fn make_user(id: u64, name: &str, _unrecorded: &[u8]) -> User {
    User {
        id,
        name: name.to_owned(),
    }
}

#[keel::instrument(args(id), ret, err)]
fn find_user(id: u64, table: &[User]) -> Result<User, String> {
    table
        .iter()
        .find(|u| u.id == id)
        .cloned()
        .ok_or_else(|| format!("no user {id}"))
}

#[keel::instrument(name = "accounts.login")]
fn login() -> bool {
    true
}

#[test]
fn args_ret_err_and_name_options() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        let ada = make_user(7, "ada", b"secret");
        let _ = find_user(7, std::slice::from_ref(&ada));
        let _ = find_user(8, &[ada]);
        login()
    });
    assert_eq!(
        events[0].fields(),
        [("id", "7".to_owned()), ("name", "\"ada\"".to_owned())]
    );
    assert_eq!(
        events[0].to_string(),
        "enter instrument::make_user(id=7, name=\"ada\")"
    );
    assert_eq!(
        events[1].field("return"),
        Some("User { id: 7, name: \"ada\" }")
    );
    assert_eq!(
        events[3].field("return"),
        Some("Ok(User { id: 7, name: \"ada\" })")
    );
    assert_eq!(events[5].outcome(), Some(&Outcome::Err("no user 8".into())));
    assert_eq!(events[5].field("return"), Some("Err(\"no user 8\")"));
    assert_eq!(events[6].name(), "accounts.login");
}

mod renamed {
    use keel as my_keel;

    #[my_keel::instrument(crate = my_keel)]
    pub fn through_renamed_crate() -> u8 {
        1
    }
}

#[test]
fn crate_option_names_a_renamed_keel() {
    let _g = exclusive();
    let (_, events) = trace::capture(renamed::through_renamed_crate);
    assert_eq!(
        events[0].name(),
        "instrument::renamed::through_renamed_crate"
    );
}

// ---------------------------------------------------------------- generics, unsafe, impl Trait

#[keel::instrument]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> Option<T> {
    items.iter().copied().fold(None, |best, x| match best {
        Some(b) if b >= x => Some(b),
        _ => Some(x),
    })
}

#[keel::instrument]
fn generic_result<E: std::fmt::Display>(error: E) -> Result<(), E> {
    Err(error)
}

#[keel::instrument]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

/// # Safety
/// `ptr` must be valid for reads.
#[keel::instrument]
unsafe fn read_raw(ptr: *const u32) -> u32 {
    // SAFETY: the caller guarantees `ptr` is valid.
    unsafe { *ptr }
}

#[test]
fn generic_unsafe_and_impl_trait_functions() {
    let _g = exclusive();
    let value = 41u32;
    let (result, events) = trace::capture(|| {
        let a = largest(&[3, 9, 2]);
        let b = largest(&["x", "y"]);
        let c: Vec<u32> = evens(5).collect();
        // SAFETY: `&value` is valid.
        let d = unsafe { read_raw(&value) };
        let e = generic_result("boom");
        (a, b, c, d, e)
    });
    assert_eq!(result, (Some(9), Some("y"), vec![0, 2, 4], 41, Err("boom")));
    let names: Vec<_> = calls(&events)
        .into_iter()
        .filter(|c| c.1)
        .map(|c| c.0)
        .collect();
    assert_eq!(
        names,
        [
            "instrument::largest",
            "instrument::largest",
            "instrument::evens",
            "instrument::read_raw",
            "instrument::generic_result"
        ]
    );
    // A generic error type is fine as long as the function's bounds say it can be printed.
    assert_eq!(events[9].outcome(), Some(&Outcome::Err("boom".into())));
}

// ---------------------------------------------------------------- methods and impl blocks

#[derive(Debug, Default)]
struct Counter {
    hits: u64,
}

impl Counter {
    #[keel::instrument]
    fn bump(&mut self) -> u64 {
        self.hits += 1;
        self.hits
    }

    #[keel::instrument]
    fn peek(&self) -> u64 {
        self.hits
    }

    #[keel::instrument]
    fn into_hits(self) -> u64 {
        self.hits
    }

    #[keel::instrument]
    fn boxed(self: Box<Self>) -> u64 {
        self.hits
    }

    #[keel::instrument]
    fn starting_at(hits: u64) -> Self {
        Self { hits }
    }
}

#[test]
fn methods_instrumented_one_by_one_are_named_after_self() {
    let _g = exclusive();
    let (total, events) = trace::capture(|| {
        let mut counter = Counter::starting_at(1);
        counter.bump();
        let seen = counter.peek();
        seen + Box::new(Counter::default()).boxed() + counter.into_hits()
    });
    assert_eq!(total, 4);
    let names: Vec<_> = calls(&events)
        .into_iter()
        .filter(|c| c.1)
        .map(|c| c.0)
        .collect();
    assert_eq!(
        names,
        [
            "instrument::Counter::starting_at",
            "instrument::Counter::bump",
            "instrument::Counter::peek",
            "instrument::Counter::boxed",
            "instrument::Counter::into_hits",
        ]
    );
}

struct Repo<T> {
    rows: Vec<T>,
}

#[keel::instrument]
impl<T: Clone + std::fmt::Debug> Repo<T> {
    fn new() -> Self {
        Self { rows: Vec::new() }
    }

    fn insert(&mut self, row: T) -> usize {
        self.rows.push(row);
        self.rows.len()
    }

    #[keel::instrument(args(index), ret)]
    fn get(&self, index: usize) -> Option<T> {
        self.rows.get(index).cloned()
    }

    #[keel::instrument(skip)]
    fn hot_path(&self) -> usize {
        self.rows.len()
    }

    const fn capacity_hint() -> usize {
        16
    }
}

#[keel::instrument]
impl std::fmt::Display for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hits", self.hits)
    }
}

#[test]
fn every_method_of_an_impl_block() {
    let _g = exclusive();
    const HINT: usize = Repo::<u8>::capacity_hint(); // still a const fn
    let (got, events) = trace::capture(|| {
        let mut repo = Repo::new();
        repo.insert("a");
        let _ = repo.hot_path();
        (repo.get(0), Counter { hits: 2 }.to_string(), HINT)
    });
    assert_eq!(got, (Some("a"), "2 hits".to_owned(), 16));
    assert_eq!(
        calls(&events),
        [
            ("instrument::Repo::new", true),
            ("instrument::Repo::new", false),
            ("instrument::Repo::insert", true),
            ("instrument::Repo::insert", false),
            ("instrument::Repo::get", true),
            ("instrument::Repo::get", false),
            ("instrument::Counter::fmt", true),
            ("instrument::Counter::fmt", false),
        ]
    );
    assert_eq!(events[4].field("index"), Some("0"));
    assert_eq!(events[5].field("return"), Some("Some(\"a\")"));
}

// ---------------------------------------------------------------- modules

#[keel::instrument]
mod handlers {
    pub fn index() -> &'static str {
        helper();
        hot_path();
        "index"
    }

    fn helper() {}

    #[keel::instrument(skip)]
    pub fn hot_path() {}

    #[keel::instrument(args(id))]
    pub fn show(id: u32) -> String {
        format!("item {id}")
    }

    pub const fn limit() -> u32 {
        10
    }

    pub struct Session;

    impl Session {
        pub fn open() -> Self {
            Session
        }
    }

    pub trait Greeter {
        fn name(&self) -> String;
        fn greet(&self) -> String {
            format!("hello {}", self.name())
        }
    }

    impl Greeter for Session {
        fn name(&self) -> String {
            "session".into()
        }
    }

    pub mod admin {
        pub fn purge() -> usize {
            0
        }
    }

    #[keel::instrument(skip)]
    pub mod untouched {
        pub fn quiet() {}
    }

    /// Functions declared inside a body are reached too, as Python's transform reaches nested
    /// `def`s; a skipped function is left whole, its nested items included.
    pub fn outer(n: u32) -> u32 {
        fn inner(n: u32) -> u32 {
            n + 1
        }
        struct Local;
        impl Local {
            fn twice(n: u32) -> u32 {
                n * 2
            }
        }
        let via_closure = |n| {
            fn in_closure(n: u32) -> u32 {
                n
            }
            in_closure(n)
        };
        via_closure(Local::twice(inner(n)))
    }

    #[keel::instrument(skip)]
    pub fn skipped_outer() -> u32 {
        fn not_reached() -> u32 {
            1
        }
        not_reached()
    }
}

#[test]
fn every_function_of_a_module_nested_items_included() {
    use handlers::Greeter;
    let _g = exclusive();
    const LIMIT: u32 = handlers::limit();
    let (_, events) = trace::capture(|| {
        handlers::index();
        handlers::show(3);
        handlers::Session::open().greet();
        handlers::admin::purge();
        handlers::untouched::quiet();
        assert_eq!(handlers::outer(3), 8);
        assert_eq!(handlers::skipped_outer(), 1);
        LIMIT
    });
    let names: Vec<_> = calls(&events)
        .into_iter()
        .filter(|c| c.1)
        .map(|c| c.0)
        .collect();
    assert_eq!(
        names,
        [
            "instrument::handlers::index",
            "instrument::handlers::helper",
            "instrument::handlers::show",
            "instrument::handlers::Session::open",
            "instrument::handlers::Greeter::greet",
            "instrument::handlers::Session::name",
            "instrument::handlers::admin::purge",
            "instrument::handlers::outer",
            "instrument::handlers::outer::inner",
            "instrument::handlers::outer::Local::twice",
            "instrument::handlers::outer::in_closure",
        ]
    );
    assert_eq!(events[4].field("id"), Some("3"));
}

// ---------------------------------------------------------------- async

/// Pending until another thread wakes it after `delay`.
struct Delay {
    until: std::time::Instant,
    armed: bool,
}

impl Delay {
    fn new(delay: Duration) -> Self {
        Self {
            until: std::time::Instant::now() + delay,
            armed: false,
        }
    }
}

impl Future for Delay {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::time::Instant::now() >= self.until {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let waker = cx.waker().clone();
            let until = self.until;
            std::thread::spawn(move || {
                std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
                waker.wake();
            });
        }
        Poll::Pending
    }
}

#[keel::instrument]
async fn fetch(key: &str, delay: Duration) -> Result<String, String> {
    Delay::new(delay).await;
    if key.is_empty() {
        return Err("empty key".into());
    }
    Ok(format!("value of {key}"))
}

#[keel::instrument]
async fn never_finishes() -> u8 {
    std::future::pending::<()>().await;
    0
}

struct Client {
    prefix: String,
}

#[keel::instrument]
impl Client {
    async fn get(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[test]
fn async_fn_spans_the_whole_future() {
    let _g = exclusive();
    let delay = Duration::from_millis(30);
    let (result, events) = trace::capture(|| futures::executor::block_on(fetch("k", delay)));
    assert_eq!(result.as_deref(), Ok("value of k"));
    assert_eq!(
        calls(&events),
        [("instrument::fetch", true), ("instrument::fetch", false)]
    );
    let elapsed = events[1].elapsed().unwrap();
    assert!(
        elapsed >= delay,
        "elapsed {elapsed:?} < {delay:?}: the suspension is not covered"
    );

    let (result, events) =
        trace::capture(|| futures::executor::block_on(fetch("", Duration::ZERO)));
    assert!(result.is_err());
    assert_eq!(outcomes(&events), [Outcome::Err("empty key".into())]);

    let client = Client {
        prefix: "c:".into(),
    };
    let (got, events) = trace::capture(|| futures::executor::block_on(client.get("x")));
    assert_eq!(got, "c:x");
    assert_eq!(events[0].name(), "instrument::Client::get");
}

#[test]
fn a_future_dropped_before_completion_is_cancelled() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        let mut future = Box::pin(never_finishes());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        drop(future);
    });
    assert_eq!(
        calls(&events),
        [
            ("instrument::never_finishes", true),
            ("instrument::never_finishes", false)
        ]
    );
    assert_eq!(outcomes(&events), [Outcome::Cancelled]);
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn instrumented_futures_stay_send() {
    let _g = exclusive();
    let future = assert_send(fetch("k", Duration::ZERO));
    assert!(futures::executor::block_on(future).is_ok());
}

// ---------------------------------------------------------------- switch, filter, threads

#[test]
fn disable_and_enable() {
    let _g = exclusive();
    trace::disable();
    assert!(!trace::is_enabled());
    let quiet = delivered(|| {
        add(1, 1);
    });
    // A capture records the call whatever the switch.
    let (_, captured) = trace::capture(|| add(1, 1));
    trace::enable();
    let loud = delivered(|| {
        add(1, 1);
    });
    assert!(quiet.is_empty(), "{quiet:?}");
    assert_eq!(captured.len(), 2);
    assert_eq!(loud.len(), 2);
}

#[test]
fn the_filter_selects_functions_by_path_prefix() {
    let _g = exclusive();
    trace::set_filter(Some(
        Filter::parse("instrument::handlers,instrument::handlers::admin=off").unwrap(),
    ));
    let events = delivered(|| {
        add(1, 2);
        handlers::show(1);
        handlers::admin::purge();
    });
    assert_eq!(
        calls(&events),
        [
            ("instrument::handlers::show", true),
            ("instrument::handlers::show", false)
        ]
    );
    // A capture records what the filter excludes.
    let (_, captured) = trace::capture(|| add(1, 2));
    assert_eq!(
        calls(&captured),
        [("instrument::add", true), ("instrument::add", false)]
    );
    // Changing the filter takes effect at once, also for call sites already seen.
    trace::set_filter(Some("instrument::add=off".parse().unwrap()));
    let events = delivered(|| {
        add(1, 2);
        handlers::admin::purge();
    });
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].name(), "instrument::handlers::admin::purge");
    trace::set_filter(None);
}

/// Run in a child process by `keel_trace_is_read_from_the_environment`.
#[test]
#[ignore = "run by keel_trace_is_read_from_the_environment with KEEL_TRACE set"]
fn env_filter_child() {
    // No enable() call: KEEL_TRACE alone switches tracing on, with its filter (which the
    // stderr lines obey: the parent checks them; a capture records both calls).
    assert!(trace::is_enabled());
    let (_, events) = trace::capture(|| {
        add(1, 2);
        handlers::show(1);
    });
    assert_eq!(
        calls(&events),
        [
            ("instrument::add", true),
            ("instrument::add", false),
            ("instrument::handlers::show", true),
            ("instrument::handlers::show", false)
        ]
    );
    assert_eq!(trace::filter().unwrap().to_string(), "instrument::add=off");
}

#[test]
fn keel_trace_is_read_from_the_environment() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["env_filter_child", "--exact", "--ignored", "--nocapture"])
        .env("KEEL_TRACE", "instrument::add=off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    // With no sink added, KEEL_TRACE prints to stderr like the Python original.
    assert!(
        stderr.contains("enter instrument::handlers::show"),
        "{stderr}"
    );
    assert!(!stderr.contains("instrument::add"), "{stderr}");
}

#[test]
fn capture_sees_only_the_current_thread() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        std::thread::spawn(|| add(5, 5)).join().unwrap();
        add(1, 1)
    });
    assert_eq!(events.len(), 2);
}

// ---------------------------------------------------------------- Stats

#[keel::instrument]
fn timed(sleep_ms: u64, fail: bool) -> Result<u64, String> {
    std::thread::sleep(Duration::from_millis(sleep_ms));
    if fail {
        Err("failed".into())
    } else {
        Ok(sleep_ms)
    }
}

#[keel::instrument]
fn boom() {
    panic!("boom")
}

#[test]
fn stats_count_calls_errors_panics_and_latency() {
    let _g = exclusive();
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    for ms in [2, 2, 2, 2, 8] {
        timed(ms, false).unwrap();
    }
    timed(2, true).unwrap_err();
    let _ = catch_unwind(AssertUnwindSafe(boom));
    std::thread::spawn(|| timed(2, false))
        .join()
        .unwrap()
        .unwrap();
    trace::clear_sinks();

    let f = stats.function("instrument::timed").unwrap();
    assert_eq!((f.calls(), f.errors(), f.panics()), (7, 1, 0));
    assert!(f.total() >= Duration::from_millis(20), "{:?}", f.total());
    assert!(f.min() >= Duration::from_millis(2) && f.max() >= Duration::from_millis(8));
    assert!(
        f.min() <= f.p50() && f.p50() <= f.p99() && f.p99() <= f.max(),
        "{f:?}"
    );
    // Six calls of ~2 ms and one of ~8 ms: the median is a 2 ms call, the p99 the 8 ms one.
    let p50 = f.p50().as_secs_f64() * 1e3;
    assert!(
        (1.9..6.0).contains(&p50),
        "p50 {p50} ms should be about 2 ms"
    );
    assert!(f.p99() >= Duration::from_micros(7_500), "{f:?}");
    assert_eq!(f.mean().as_micros(), (f.total() / 7).as_micros());

    let b = stats.function("instrument::boom").unwrap();
    assert_eq!((b.calls(), b.panics()), (1, 1));

    let table = stats.report().to_string();
    let header = table.lines().next().unwrap();
    for column in [
        "function", "calls", "errors", "panics", "total", "p50", "p99", "max",
    ] {
        assert!(header.contains(column), "{header}");
    }
    // Slowest total first.
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("instrument::timed"),
        "{table}"
    );
}

#[test]
fn stats_record_the_same_whether_alone_beside_another_sink_or_under_a_capture() {
    let _g = exclusive();
    // Alone, `Stats` is fed directly (no event is built); beside another sink or while a
    // capture runs, through events. The figures must not depend on the path.
    let alone = Stats::new();
    trace::add_sink(alone.clone());
    timed(0, false).unwrap();
    timed(0, true).unwrap_err();
    let (_, captured) = trace::capture(|| timed(0, false));
    let seen = Arc::new(AtomicUsize::new(0));
    let beside = Stats::new();
    trace::add_sink(beside.clone());
    let counter = Arc::clone(&seen);
    trace::add_sink(move |event: &Event| {
        if event.is_exit() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    timed(0, true).unwrap_err();
    trace::clear_sinks();

    let f = alone.function("instrument::timed").unwrap();
    assert_eq!((f.calls(), f.errors()), (4, 2));
    let g = beside.function("instrument::timed").unwrap();
    assert_eq!((g.calls(), g.errors()), (1, 1));
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(
        calls(&captured),
        [("instrument::timed", true), ("instrument::timed", false)]
    );
}

// ---------------------------------------------------------------- tracing bridge

#[test]
fn the_tracing_bridge_opens_nested_spans() {
    use std::sync::Arc;
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Option<String>)>>);

    struct Layer(Arc<Recorder>);

    struct FunctionField(Option<String>);
    impl tracing::field::Visit for FunctionField {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "function" {
                self.0 = Some(format!("{value:?}"));
            }
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "function" {
                self.0 = Some(value.to_owned());
            }
        }
    }

    impl<S> tracing_subscriber::Layer<S> for Layer
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: LayerContext<'_, S>,
        ) {
            let mut function = FunctionField(None);
            attrs.record(&mut function);
            // The contextual parent: the span entered on this thread when this one was opened.
            let parent_name = attrs
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current())
                .and_then(|span| span.extensions().get::<String>().cloned());
            if let Some(span) = ctx.span(id) {
                span.extensions_mut()
                    .insert(function.0.clone().unwrap_or_default());
            }
            self.0
                .0
                .lock()
                .unwrap()
                .push((function.0.unwrap_or_default(), parent_name));
        }
    }

    let _g = exclusive();
    let recorder = Arc::new(Recorder::default());
    let subscriber = tracing_subscriber::registry().with(Layer(Arc::clone(&recorder)));
    trace::add_sink(trace::TracingBridge::new());
    tracing::subscriber::with_default(subscriber, || evaluate("2+3")).unwrap();
    trace::clear_sinks();
    let spans = recorder.0.lock().unwrap().clone();
    assert_eq!(spans.len(), 4, "{spans:?}");
    assert_eq!(spans[0], ("instrument::evaluate".to_owned(), None));
    assert_eq!(
        spans[1],
        (
            "instrument::parse".to_owned(),
            Some("instrument::evaluate".to_owned())
        )
    );
    assert_eq!(
        spans[3],
        (
            "instrument::add".to_owned(),
            Some("instrument::evaluate".to_owned())
        )
    );
}

// ---------------------------------------------------------------- captures and the library API

#[test]
fn captures_nest_and_end_on_panic() {
    let _g = exclusive();
    let ((inner, caught), outer) = trace::capture(|| {
        add(1, 1);
        let (_, inner) = trace::capture(|| add(2, 2));
        let caught = catch_unwind(|| trace::capture(|| explode(9))).is_err();
        add(3, 3);
        (inner, caught)
    });
    assert!(caught);
    assert_eq!(inner.len(), 2, "the inner capture takes its own events");
    // The outer capture sees its own calls, not the inner capture's nor the panicking one's.
    assert_eq!(outer.len(), 4, "{outer:?}");
    let (_, after) = trace::capture(|| add(4, 4));
    assert_eq!(
        after.len(),
        2,
        "a capture that panicked left the thread clean"
    );
}

/// How library code (such as `#[keel::transaction]`) reports a timed operation without the macro.
mod library {
    use keel::trace::{CallSite, Span};

    pub static COMMIT: CallSite =
        CallSite::new("mylib::tx::commit", module_path!(), file!(), line!());

    pub fn commit(fail: bool) -> Result<(), String> {
        let span = Span::enter_with(&COMMIT, &[("fail", &fail)]);
        let result = if fail {
            Err("conflict".to_owned())
        } else {
            Ok(())
        };
        span.finish_result(&result);
        result
    }

    pub fn abandon() {
        let _span = Span::enter(&COMMIT);
    }
}

#[test]
fn library_code_reports_through_span() {
    let _g = exclusive();
    let (_, events) = trace::capture(|| {
        let _ = library::commit(false);
        let _ = library::commit(true);
        library::abandon();
    });
    assert!(events.iter().all(|e| e.name() == "mylib::tx::commit"));
    assert_eq!(events[0].field("fail"), Some("false"));
    assert_eq!(
        outcomes(&events),
        [
            Outcome::Ok,
            Outcome::Err("conflict".into()),
            Outcome::Cancelled
        ]
    );
    assert_eq!(events[0].call_site().line(), library::COMMIT.line());
    // The filter treats library call sites like instrumented functions.
    trace::set_filter(Some(Filter::parse("mylib::tx=off").unwrap()));
    let filtered = delivered(|| {
        let _ = library::commit(false);
    });
    assert!(filtered.is_empty());
    trace::set_filter(None);
}

// ---------------------------------------------------------------- keel::context on events

static REQUEST_ID: keel::context::ContextVar<String> = keel::context::ContextVar::new("request_id");

#[test]
fn events_carry_the_context_of_the_thread_that_emitted_them() {
    let _guard = exclusive();
    let _token = REQUEST_ID.set("req-42".into());
    // Two events per call, each carrying `expected` as the request id of its context snapshot.
    let assert_seen = |events: &[Event], expected: Option<&str>| {
        assert_eq!(events.len(), 2, "{events:?}");
        for event in events {
            let context = event.context().expect("a capture always gets the snapshot");
            assert_eq!(context.get(&REQUEST_ID).as_deref(), expected, "{event}");
        }
    };
    assert_seen(&trace::capture(|| add(1, 2)).1, Some("req-42"));

    // keel::context::spawn carries the context into the new thread; its events see it.
    let handed_off = keel::context::spawn(|| trace::capture(|| add(3, 4)).1);
    assert_seen(&handed_off.join().unwrap(), Some("req-42"));

    // A plain std::thread::spawn starts with an empty context, as in Python.
    let plain = std::thread::spawn(|| trace::capture(|| add(5, 6)).1);
    assert_seen(&plain.join().unwrap(), None);
}

#[test]
fn the_context_snapshot_is_skipped_when_no_sink_or_capture_reads_it() {
    let _guard = exclusive();
    let _token = REQUEST_ID.set("req-7".into());
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    // A sink that declares it does not read the context, like `Stats`.
    struct NoContext(std::sync::Arc<Mutex<Vec<bool>>>);
    impl keel::trace::Sink for NoContext {
        fn event(&self, event: &Event) {
            if event.name().ends_with("::add") {
                self.0.lock().unwrap().push(event.context().is_some());
            }
        }
        fn interest(&self) -> keel::trace::Interest {
            keel::trace::Interest::new().context(false)
        }
    }
    trace::add_sink(NoContext(log));
    add(1, 1); // no capture here: nobody wants the snapshot
    let (_, captured) = trace::capture(|| add(2, 2)); // a capture always gets it
    trace::clear_sinks();
    assert!(!seen.lock().unwrap().is_empty());
    let flags = seen.lock().unwrap().clone();
    let half = flags.len() / 2;
    assert!(flags[..half].iter().all(|has| !has), "{flags:?}");
    assert!(flags[half..].iter().all(|has| *has), "{flags:?}");
    assert!(captured.iter().all(|e| e.context().is_some()));
}

/// A sink written for the `wants_*` methods (deprecated for `Sink::interest`) keeps working: the
/// default `interest` reads them, once, when the sink is added.
#[test]
#[allow(deprecated)]
fn a_sink_declaring_through_the_deprecated_wants_methods_is_still_obeyed() {
    let _guard = exclusive();
    let seen = Arc::new(Mutex::new(Vec::new()));
    struct Legacy(Arc<Mutex<Vec<(bool, bool)>>>);
    impl keel::trace::Sink for Legacy {
        fn event(&self, event: &Event) {
            if event.name().ends_with("::add") {
                self.0
                    .lock()
                    .unwrap()
                    .push((event.is_enter(), event.context().is_some()));
            }
        }
        fn wants_enters(&self) -> bool {
            false
        }
        fn wants_context(&self) -> bool {
            false
        }
    }
    let legacy = Legacy(seen.clone());
    let interest = keel::trace::Sink::interest(&legacy);
    assert!(!interest.wants_enters() && !interest.wants_context());
    assert!(interest.wants_unsampled() && !interest.wants_polls());
    trace::clear_sinks();
    trace::add_sink(legacy);
    add(1, 2);
    trace::clear_sinks();
    // Exits only, and no context snapshot (nobody else listens).
    assert_eq!(*seen.lock().unwrap(), [(false, false)]);
}

/// What keel's own sinks declare, once, through `Sink::interest`.
#[test]
fn keel_sinks_declare_their_interest() {
    use keel::trace::{Interest, Sink};
    assert_eq!(
        Stats::new().interest(),
        Interest::new().enters(false).context(false)
    );
    assert_eq!(keel::trace::Stderr::new().interest(), Interest::new());
    let closure = |_: &Event| {};
    assert_eq!(closure.interest(), Interest::new());
}

// One argument of each typed kind, and one that is not (`Option<u32>`): eight on purpose.
#[allow(clippy::too_many_arguments)]
#[keel::instrument(args(small, count, big, ratio, flag, name, owned, opt), ret)]
fn typed_fields(
    small: i8,
    count: usize,
    big: u64,
    ratio: f64,
    flag: bool,
    name: &str,
    owned: String,
    opt: Option<u32>,
) -> f64 {
    let _ = (small, count, big, flag, name, owned, opt);
    ratio * 2.0
}

#[keel::instrument(ret)]
fn typed_return(name: &'static str) -> &'static str {
    name
}

#[test]
fn typed_arguments_and_return_values_print_as_their_debug_text() {
    let _g = exclusive();
    let name = "tab\t\"quoted\" é";
    let (_, events) = trace::capture(|| {
        typed_fields(
            -8,
            3,
            u64::MAX,
            0.1,
            true,
            name,
            "owned\\".to_owned(),
            Some(4),
        );
        typed_return(name)
    });
    let expected: Vec<(&str, String)> = vec![
        ("small", format!("{:?}", -8_i8)),
        ("count", format!("{:?}", 3_usize)),
        ("big", format!("{:?}", u64::MAX)),
        ("ratio", format!("{:?}", 0.1_f64)),
        ("flag", format!("{:?}", true)),
        ("name", format!("{name:?}")),
        ("owned", format!("{:?}", "owned\\")),
        ("opt", format!("{:?}", Some(4_u32))),
    ];
    assert_eq!(events[0].fields(), expected);
    assert_eq!(
        events[1].field("return"),
        Some(format!("{:?}", 0.2_f64).as_str())
    );
    assert_eq!(
        events[3].field("return"),
        Some(format!("{name:?}").as_str())
    );
    assert_eq!(
        events[2].to_string(),
        format!("enter instrument::typed_return")
    );
}
