//! Span identity and W3C Trace Context: the span tree across calls, threads and tasks;
//! `traceparent` parsing against the W3C test suite's cases; head sampling.

use keel::context::{self, Context};
use keel::trace::{self, Event, Outcome, SpanId, TraceId, TraceParent, TraceParentError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The sampler and the sinks are process-wide: tests here run one at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    trace::set_sampler(1.0);
    trace::enable();
    guard
}

/// Exits seen by a sink on any thread.
static EXITS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

fn install_collector() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        trace::add_sink(|event: &Event| {
            if event.is_exit() && event.name().starts_with("trace_context::") {
                EXITS.lock().unwrap().push(event.clone());
            }
        })
    });
    EXITS.lock().unwrap().clear();
}

fn collected() -> Vec<Event> {
    std::mem::take(&mut *EXITS.lock().unwrap())
}

/// Exits by function name (the last one of each name).
fn by_name(events: &[Event]) -> HashMap<&'static str, Event> {
    events.iter().map(|e| (e.name(), e.clone())).collect()
}

#[keel::instrument]
fn leaf() -> u32 {
    1
}

#[keel::instrument]
fn middle() -> u32 {
    leaf() + leaf()
}

#[keel::instrument]
fn top() -> u32 {
    middle()
}

#[test]
fn nested_calls_form_one_tree_with_each_caller_as_parent() {
    let _guard = exclusive();
    let (_, events) = trace::capture(top);
    let exits: Vec<&Event> = events.iter().filter(|e| e.is_exit()).collect();
    let [leaf1, leaf2, middle, root] = exits[..] else {
        panic!("{exits:?}")
    };
    assert_eq!(root.parent_id(), None, "top is the root");
    assert_eq!(middle.parent_id(), Some(root.span_id()));
    assert_eq!(leaf1.parent_id(), Some(middle.span_id()));
    assert_eq!(leaf2.parent_id(), Some(middle.span_id()));
    assert_ne!(leaf1.span_id(), leaf2.span_id());
    for e in [leaf1, leaf2, middle] {
        assert_eq!(e.trace_id(), root.trace_id());
    }
    assert_eq!(middle.parent_name(), Some("trace_context::top"));
    // Entry and exit of one call share the ids.
    assert_eq!(events[0].span_id(), root.span_id());
    // A second root starts a new trace.
    let (_, again) = trace::capture(self::top);
    assert_ne!(again[0].trace_id(), root.trace_id());
    assert_eq!(root.trace_id().to_string().len(), 32);
    assert!(
        root.span_id()
            .to_string()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[keel::instrument]
fn countdown(n: u32) -> u32 {
    if n == 0 { 0 } else { 1 + countdown(n - 1) }
}

#[test]
fn recursion_chains_each_call_under_the_one_that_made_it() {
    let _guard = exclusive();
    let (_, events) = trace::capture(|| countdown(3));
    let enters: Vec<&Event> = events.iter().filter(|e| e.is_enter()).collect();
    assert_eq!(enters.len(), 4);
    assert_eq!(enters[0].parent_id(), None);
    for pair in enters.windows(2) {
        assert_eq!(pair[1].parent_id(), Some(pair[0].span_id()));
        assert_eq!(pair[1].trace_id(), pair[0].trace_id());
    }
}

#[keel::instrument]
fn worker() -> u32 {
    leaf()
}

#[keel::instrument]
fn dispatcher() -> (u32, u32) {
    let spawned = context::spawn(worker);
    let wrapped = context::wrap(worker);
    let wrapped = std::thread::spawn(wrapped);
    (spawned.join().unwrap(), wrapped.join().unwrap())
}

#[test]
fn work_handed_to_threads_with_spawn_and_wrap_is_a_child_of_the_caller() {
    let _guard = exclusive();
    install_collector();
    dispatcher();
    let events = collected();
    let root = by_name(&events)["trace_context::dispatcher"].clone();
    let workers: Vec<&Event> = events
        .iter()
        .filter(|e| e.name() == "trace_context::worker")
        .collect();
    assert_eq!(workers.len(), 2, "{events:?}");
    for worker in &workers {
        assert_eq!(worker.parent_id(), Some(root.span_id()));
        assert_eq!(worker.trace_id(), root.trace_id());
    }
    let leaves: Vec<&Event> = events
        .iter()
        .filter(|e| e.name() == "trace_context::leaf")
        .collect();
    assert_eq!(leaves.len(), 2);
    for leaf in leaves {
        assert!(
            workers
                .iter()
                .any(|w| leaf.parent_id() == Some(w.span_id()))
        );
    }
    // A plain thread, with no snapshot, starts its own trace.
    std::thread::spawn(worker).join().unwrap();
    let plain = collected();
    let plain = by_name(&plain)["trace_context::worker"].clone();
    assert_eq!(plain.parent_id(), None);
    assert_ne!(plain.trace_id(), root.trace_id());
}

#[keel::instrument]
async fn fetch(n: u32) -> u32 {
    std::future::ready(()).await;
    leaf() + n
}

#[keel::instrument]
async fn handler() -> u32 {
    let task = Context::current().scope(fetch(1));
    // The task runs on another thread, polled there: still a child of `handler`.
    let other = std::thread::spawn(move || futures::executor::block_on(task));
    fetch(2).await + other.join().unwrap()
}

#[test]
fn async_tasks_with_scope_are_children_of_the_caller_on_any_thread() {
    let _guard = exclusive();
    install_collector();
    assert_eq!(futures::executor::block_on(handler()), 5);
    let events = collected();
    let handler = by_name(&events)["trace_context::handler"].clone();
    let fetches: Vec<&Event> = events
        .iter()
        .filter(|e| e.name() == "trace_context::fetch")
        .collect();
    assert_eq!(fetches.len(), 2, "{events:?}");
    for fetch in &fetches {
        assert_eq!(fetch.parent_id(), Some(handler.span_id()), "{fetch:?}");
        assert_eq!(fetch.trace_id(), handler.trace_id());
    }
}

#[keel::instrument]
fn save(conn: &mut rusqlite::Connection) -> Result<usize, BoxError> {
    keel::tx::run(conn, &keel::tx::Options::new().name("save"), |conn| {
        Ok(conn.execute("CREATE TABLE t (x INTEGER)", [])?)
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[test]
fn the_transaction_span_is_a_child_of_the_function_that_opened_it() {
    let _guard = exclusive();
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    let (result, events) = trace::capture(|| save(&mut conn));
    result.unwrap();
    let exits: Vec<&Event> = events.iter().filter(|e| e.is_exit()).collect();
    let tx = exits.iter().find(|e| e.name() == "keel::tx::save").unwrap();
    let save = exits
        .iter()
        .find(|e| e.name() == "trace_context::save")
        .unwrap();
    assert_eq!(tx.parent_id(), Some(save.span_id()));
    assert_eq!(tx.trace_id(), save.trace_id());
    assert_eq!(tx.outcome(), Some(&Outcome::Ok));
}

// --- W3C Trace Context: `traceparent` (the cases of the W3C test suite, test/test.py) ---

const TRACE: &str = "12345678901234567890123456789012";
const SPAN: &str = "1234567890123456";

fn parse(header: &str) -> Result<TraceParent, TraceParentError> {
    header.parse()
}

#[test]
fn valid_headers_parse_into_their_fields_and_display_back() {
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let parent = parse(header).unwrap();
    assert_eq!(
        parent.trace_id(),
        TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap()
    );
    assert_eq!(
        parent.parent_id(),
        SpanId::from_u64(0x00f067aa0ba902b7).unwrap()
    );
    assert!(parent.is_sampled());
    assert_eq!(parent.to_string(), header);
    let unsampled = parse(&format!("00-{TRACE}-{SPAN}-00")).unwrap();
    assert!(!unsampled.is_sampled());
    assert_eq!(unsampled.to_string(), format!("00-{TRACE}-{SPAN}-00"));
    // Unknown flag bits are accepted and not passed on; sampled and Level 2's random are.
    assert_eq!(parse(&format!("00-{TRACE}-{SPAN}-ff")).unwrap().flags(), 3);
    // Optional white space around the value (HTTP OWS) is not part of it.
    assert_eq!(
        parse(&format!(" \t00-{TRACE}-{SPAN}-01 "))
            .unwrap()
            .to_string(),
        format!("00-{TRACE}-{SPAN}-01")
    );
}

#[test]
fn version_ff_and_bad_versions_are_rejected() {
    assert_eq!(
        parse(&format!("ff-{TRACE}-{SPAN}-01")),
        Err(TraceParentError::ForbiddenVersion)
    );
    for version in ["0", "000", "0x", "AA", "g0", ".0"] {
        let header = format!("{version}-{TRACE}-{SPAN}-01");
        let error = parse(&header).unwrap_err();
        assert!(
            matches!(
                error,
                TraceParentError::NotLowercaseHex {
                    field: "version",
                    ..
                } | TraceParentError::Separator { .. }
                    | TraceParentError::Length { .. }
            ),
            "{header}: {error:?}"
        );
    }
    assert!(matches!(
        parse(&format!("0A-{TRACE}-{SPAN}-01")),
        Err(TraceParentError::NotLowercaseHex {
            field: "version",
            ..
        })
    ));
}

#[test]
fn all_zero_ids_are_rejected() {
    assert_eq!(
        parse(&format!("00-{}-{SPAN}-01", "0".repeat(32))),
        Err(TraceParentError::ZeroTraceId)
    );
    assert_eq!(
        parse(&format!("00-{TRACE}-{}-01", "0".repeat(16))),
        Err(TraceParentError::ZeroParentId)
    );
    assert_eq!(
        TraceParentError::ZeroParentId.to_string(),
        "traceparent parent-id must not be all zeros"
    );
}

#[test]
fn uppercase_and_non_hex_digits_are_rejected_naming_the_field() {
    let cases = [
        (
            format!("00-{}-{SPAN}-01", TRACE.replace('1', "A")),
            "trace-id",
        ),
        (
            format!("00-{TRACE}-{}-01", SPAN.replace('1', "B")),
            "parent-id",
        ),
        (format!("00-{TRACE}-{SPAN}-0A"), "trace-flags"),
        (
            format!("00-{}-{SPAN}-01", TRACE.replace('1', "g")),
            "trace-id",
        ),
        (
            format!("00-{TRACE}-{}-01", SPAN.replace('1', ".")),
            "parent-id",
        ),
        (format!("00-{TRACE}-{SPAN}-.0"), "trace-flags"),
    ];
    for (header, expected) in cases {
        match parse(&header) {
            Err(TraceParentError::NotLowercaseHex { field, .. }) => {
                assert_eq!(field, expected, "{header}")
            }
            other => panic!("{header}: {other:?}"),
        }
    }
    let error = parse(&format!("00-{}-{SPAN}-01", TRACE.replace('1', "A"))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "traceparent trace-id must be 32 lowercase hex digits, got \"A234567890A234567890A234567890A2\""
    );
}

#[test]
fn wrong_lengths_and_separators_are_rejected() {
    let too_short_trace = format!("00-{}-{SPAN}-01", &TRACE[1..]);
    let too_long_trace = format!("00-{TRACE}0-{SPAN}-01");
    let too_short_span = format!("00-{TRACE}-{}-01", &SPAN[1..]);
    let too_long_span = format!("00-{TRACE}-{SPAN}0-01");
    let short_flags = format!("00-{TRACE}-{SPAN}-1");
    let long_flags = format!("00-{TRACE}-{SPAN}-011");
    let trailing = format!("00-{TRACE}-{SPAN}-01-");
    let extra = format!("00-{TRACE}-{SPAN}-01-what-the-future-will-be-like");
    let bad_separator = format!("00_{TRACE}-{SPAN}-01");
    for header in [
        "",
        "00",
        "00-",
        too_short_trace.as_str(),
        too_long_trace.as_str(),
        too_short_span.as_str(),
        too_long_span.as_str(),
        short_flags.as_str(),
        long_flags.as_str(),
        trailing.as_str(),
        extra.as_str(),
        bad_separator.as_str(),
    ] {
        assert!(parse(header).is_err(), "{header:?} must be rejected");
    }
    assert_eq!(
        parse(&long_flags),
        Err(TraceParentError::Length { len: 56 })
    );
    assert_eq!(
        parse(&bad_separator),
        Err(TraceParentError::Separator {
            position: 2,
            found: "_".into()
        })
    );
}

#[test]
fn a_future_version_may_carry_extra_fields_after_a_dash() {
    let parent = parse(&format!(
        "cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"
    ))
    .unwrap();
    assert_eq!(parent.trace_id().to_string(), TRACE);
    assert_eq!(parent.parent_id().to_string(), SPAN);
    // Re-sent as the version this crate speaks.
    assert_eq!(parent.to_string(), format!("00-{TRACE}-{SPAN}-01"));
    assert!(parse(&format!("cc-{TRACE}-{SPAN}-01")).is_ok());
    // Extra data must be separated by '-'.
    assert!(
        parse(&format!(
            "cc-{TRACE}-{SPAN}-01.what-the-future-will-not-be-like"
        ))
        .is_err()
    );
    // Even a future version needs valid fields.
    assert!(parse(&format!("cc-{TRACE}-{SPAN}-0-what")).is_err());
}

#[keel::instrument]
fn handle_request() -> Option<TraceParent> {
    TraceParent::current()
}

#[test]
fn run_continues_a_remote_trace_and_carries_tracestate() {
    let _guard = exclusive();
    let remote = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .unwrap()
        .with_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    let (outgoing, events) = trace::capture(|| remote.clone().run(handle_request));
    let outgoing = outgoing.unwrap();
    assert_eq!(events[0].trace_id(), remote.trace_id());
    assert_eq!(events[0].parent_id(), Some(remote.parent_id()));
    assert_eq!(events[0].parent_name(), None, "the parent is remote");
    assert_eq!(outgoing.trace_id(), remote.trace_id());
    assert_eq!(outgoing.parent_id(), events[0].span_id());
    assert_eq!(
        outgoing.tracestate(),
        Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    );
    assert!(TraceParent::current().is_none());
    // Inside `run`, before any call, the current parent is the remote one itself.
    let inside = remote.clone().run(TraceParent::current).unwrap();
    assert_eq!(inside, remote);
    // An unsampled caller's decision is kept.
    let unsampled = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap();
    let (header, events) = trace::capture(|| unsampled.run(handle_request));
    assert!(!header.unwrap().is_sampled());
    assert!(!events[0].is_sampled());
    // Nested runs do not leak the outer tracestate into a parent that has none.
    let plain = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    let nested = remote.run(|| plain.run(TraceParent::current)).unwrap();
    assert_eq!(nested.tracestate(), None);
}

#[test]
fn scope_continues_a_remote_trace_in_each_poll() {
    let _guard = exclusive();
    install_collector();
    let remote = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    let task = remote.clone().scope(async {
        std::future::ready(()).await;
        fetch(0).await
    });
    std::thread::spawn(move || futures::executor::block_on(task))
        .join()
        .unwrap();
    let events = collected();
    let fetch = by_name(&events)["trace_context::fetch"].clone();
    assert_eq!(fetch.trace_id(), remote.trace_id());
    assert_eq!(fetch.parent_id(), Some(remote.parent_id()));
}

#[test]
fn sampling_decides_at_the_root_and_keeps_or_drops_traces_whole() {
    let _guard = exclusive();
    trace::set_sampler(0.5);
    let mut kept = 0;
    for _ in 0..400 {
        let (_, events) = trace::capture(top);
        let root = events.last().unwrap();
        assert!(
            events.iter().all(|e| e.is_sampled() == root.is_sampled()),
            "one decision per trace"
        );
        // The decision follows the trace id's low 64 bits.
        let low = root.trace_id().to_u128() as u64;
        assert_eq!(root.is_sampled(), low < 1 << 63);
        // Sampled or not, and random (W3C Level 2): keel's root trace ids are.
        assert_eq!(root.trace_flags(), u8::from(root.is_sampled()) | 2);
        kept += usize::from(root.is_sampled());
    }
    assert!((120..=280).contains(&kept), "kept {kept} of 400 at 0.5");
    trace::set_sampler(0.0);
    let (_, events) = trace::capture(top);
    assert!(events.iter().all(|e| !e.is_sampled()));
    trace::set_sampler(1.0);
    let (_, events) = trace::capture(top);
    assert!(events.iter().all(Event::is_sampled));
}
