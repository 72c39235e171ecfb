//! The `tracing` bridge on a multi-thread tokio runtime, proven with a `tracing-subscriber`
//! registry: 10,000 instrumented async calls that yield and move between workers leave no span
//! entered on any thread, every enter and exit on a thread is balanced in order, and each call's
//! span has the right parent (the keel caller, also across `keel::context::tokio::spawn`).

#![deny(warnings, clippy::all)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, mpsc};
use std::thread::ThreadId;
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, field};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// What a span was: the function and args of its keel call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Call {
    function: String,
    args: String,
}

/// Kept in each span's extensions: the call, and its parent's (copied while the parent is open,
/// since registry ids are reused once a span closes).
#[derive(Clone, Debug, Default)]
struct Node {
    call: Call,
    parent: Option<Call>,
}

#[derive(Default)]
struct Recorder {
    /// Each thread's stack of entered spans, as the subscriber sees enters and exits.
    entered: Mutex<HashMap<ThreadId, Vec<u64>>>,
    /// Every closed span.
    closed: Mutex<Vec<Node>>,
    /// Enters and exits that did not match the thread's stack.
    mismatches: Mutex<Vec<String>>,
}

struct Fields<'a>(&'a mut Call);

impl field::Visit for Fields<'_> {
    fn record_str(&mut self, f: &field::Field, value: &str) {
        match f.name() {
            "function" => self.0.function = value.to_owned(),
            "args" => self.0.args = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, f: &field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(f, &format!("{value:?}"));
    }
}

/// The recorder, shared by the layer (installed globally) and the test.
static RECORDER: std::sync::LazyLock<Recorder> = std::sync::LazyLock::new(Recorder::default);

struct RecordingLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RecordingLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut call = Call::default();
        attrs.record(&mut Fields(&mut call));
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Node>().map(|n| n.call.clone()));
        span.extensions_mut().insert(Node { call, parent });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        if let Some(node) = extensions.get_mut::<Node>() {
            values.record(&mut Fields(&mut node.call));
        }
    }

    fn on_enter(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let thread = std::thread::current().id();
        RECORDER
            .entered
            .lock()
            .unwrap()
            .entry(thread)
            .or_default()
            .push(id.into_u64());
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let thread = std::thread::current().id();
        let mut entered = RECORDER.entered.lock().unwrap();
        let stack = entered.entry(thread).or_default();
        if stack.last() == Some(&id.into_u64()) {
            stack.pop();
        } else {
            RECORDER.mismatches.lock().unwrap().push(format!(
                "exit of {id:?} on {thread:?} whose stack is {stack:?}"
            ));
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if let Some(node) = span.extensions().get::<Node>() {
            RECORDER.closed.lock().unwrap().push(node.clone());
        }
    }
}

/// Pending once, woken by a thread outside the runtime, so that the next poll may run on any
/// worker.
fn woken_from_outside() -> impl Future<Output = ()> {
    static WAKER_THREAD: Mutex<Option<mpsc::Sender<std::task::Waker>>> = Mutex::new(None);
    let mut pending = true;
    std::future::poll_fn(move |cx| {
        if !std::mem::take(&mut pending) {
            return std::task::Poll::Ready(());
        }
        let mut sender = WAKER_THREAD.lock().unwrap();
        let sender = sender.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<std::task::Waker>();
            std::thread::spawn(move || rx.into_iter().for_each(std::task::Waker::wake));
            tx
        });
        sender.send(cx.waker().clone()).unwrap();
        std::task::Poll::Pending
    })
}

#[keel::instrument(args(i))]
async fn request(i: u32) -> u32 {
    woken_from_outside().await;
    let a = step(i).await;
    tokio::task::yield_now().await;
    let b = step(i).await;
    let c = keel::context::tokio::spawn(spawned(i)).await.unwrap();
    a + b + c
}

#[keel::instrument(args(i))]
async fn step(i: u32) -> u32 {
    woken_from_outside().await;
    leaf(i)
}

#[keel::instrument(args(i))]
async fn spawned(i: u32) -> u32 {
    tokio::task::yield_now().await;
    leaf(i)
}

#[keel::instrument(args(i))]
fn leaf(i: u32) -> u32 {
    i % 7
}

const REQUESTS: u32 = 10_000;

#[test]
fn ten_thousand_migrating_async_calls_leave_no_span_entered_and_keep_their_parents() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(RecordingLayer))
        .unwrap();
    keel::trace::add_sink(keel::trace::TracingBridge::new());
    keel::trace::enable();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let total: u32 = runtime.block_on(async {
        let tasks: Vec<_> = (0..REQUESTS).map(|i| tokio::spawn(request(i))).collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    let expected: u32 = (0..REQUESTS).map(|i| 3 * (i % 7)).sum();
    assert_eq!(total, expected);

    // No worker has a current span: as the subscriber sees it, and as tracing answers there.
    let currents: Vec<bool> = runtime.block_on(async {
        let probes: Vec<_> = (0..64)
            .map(|_| tokio::spawn(async { tracing::Span::current().is_none() }))
            .collect();
        let mut out = Vec::new();
        for probe in probes {
            out.push(probe.await.unwrap());
        }
        out
    });
    drop(runtime);
    assert!(
        currents.iter().all(|none| *none),
        "a worker has a current span"
    );
    let mismatches = RECORDER.mismatches.lock().unwrap();
    assert!(
        mismatches.is_empty(),
        "{:?}",
        &mismatches[..mismatches.len().min(5)]
    );
    let entered = RECORDER.entered.lock().unwrap();
    let left: Vec<_> = entered
        .iter()
        .filter(|(_, stack)| !stack.is_empty())
        .collect();
    assert!(left.is_empty(), "spans left entered: {left:?}");
    assert!(entered.len() > 1, "the calls ran on one thread only");

    // Each call's span has the right parent.
    let closed = RECORDER.closed.lock().unwrap();
    let function = |name: &str| format!("context_tracing::{name}");
    let mut counts: HashMap<String, u32> = HashMap::new();
    for node in closed.iter() {
        let name = node.call.function.rsplit("::").next().unwrap().to_owned();
        let args = &node.call.args;
        let parent = node.parent.as_ref();
        match name.as_str() {
            "request" => assert_eq!(parent, None, "{node:?}"),
            "step" | "spawned" => assert_eq!(
                parent,
                Some(&Call {
                    function: function("request"),
                    args: args.clone(),
                }),
                "{node:?}"
            ),
            "leaf" => {
                let parent = parent.unwrap_or_else(|| panic!("leaf without parent: {node:?}"));
                assert!(
                    parent.function == function("step") || parent.function == function("spawned"),
                    "{node:?}"
                );
                assert_eq!(&parent.args, args, "{node:?}");
            }
            other => panic!("unexpected span {other}: {node:?}"),
        }
        *counts.entry(name).or_default() += 1;
    }
    let n = REQUESTS;
    assert_eq!(counts.get("request"), Some(&n));
    assert_eq!(counts.get("step"), Some(&(2 * n)));
    assert_eq!(counts.get("spawned"), Some(&n));
    assert_eq!(counts.get("leaf"), Some(&(3 * n)));
}
