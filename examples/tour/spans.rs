//! OpenTelemetry-style spans: `#[keel::instrument]` calls form a tree with W3C trace and span
//! ids, across a blocking thread and tokio tasks; a `traceparent` header carries the trace
//! from a client task to a server task over loopback (127.0.0.1), where the server continues
//! it. (Python: opentelemetry-api's `start_as_current_span` and `propagate.inject/extract`.)

use crate::measure::{Table, dur, ns, per_call};
use keel::context;
use keel::trace::{self, Event, Sink, SpanId, TraceId, TraceParent};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One finished span, as a sink sees its exit event (on the thread that ran it).
struct Row {
    name: &'static str,
    span: SpanId,
    parent: Option<SpanId>,
    remote_parent: bool,
    trace: TraceId,
    thread: String,
    elapsed: Duration,
}

/// A sink that keeps every finished span, from every thread.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Row>>>);

impl Sink for Collect {
    fn event(&self, event: &Event) {
        if !event.is_exit() {
            return;
        }
        let thread = std::thread::current();
        self.0.lock().unwrap().push(Row {
            name: event.name(),
            span: event.span_id(),
            parent: event.parent_id(),
            remote_parent: event.parent_id().is_some() && event.parent_name().is_none(),
            trace: event.trace_id(),
            thread: thread.name().unwrap_or("unnamed").to_string(),
            elapsed: event.elapsed().unwrap_or_default(),
        });
    }

    fn wants_enters(&self) -> bool {
        false
    }

    fn wants_context(&self) -> bool {
        false
    }
}

#[keel::instrument]
fn price_items(items: &[u32]) -> u64 {
    items.iter().map(|&item| price(item)).sum()
}

#[keel::instrument]
fn price(item: u32) -> u64 {
    u64::from(item) * 250
}

/// The client side: sends the request with the current call as `traceparent`.
#[keel::instrument]
async fn fetch_shipping(port: u16) -> Result<u64, String> {
    let header = TraceParent::current().ok_or("no current call")?;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET /shipping?items=3 HTTP/1.1\r\nhost: 127.0.0.1\r\ntraceparent: {header}\r\n\
         connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let body = response.rsplit("\r\n\r\n").next().unwrap_or_default();
    body.parse().map_err(|_| format!("bad body {body:?}"))
}

/// The server side's handler, run in the caller's trace.
#[keel::instrument]
async fn quote_shipping(items: u64) -> Result<u64, String> {
    tokio::task::yield_now().await;
    Ok(items * 99)
}

/// The server task: one request, its `traceparent` parsed and continued.
async fn serve(listener: TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.expect("accept");
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.expect("read");
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let request = String::from_utf8_lossy(&request).into_owned();
    let header = request
        .lines()
        .find_map(|line| line.strip_prefix("traceparent: "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let quote = match header.parse::<TraceParent>() {
        Ok(parent) => parent.scope(quote_shipping(3)).await,
        Err(e) => Err(e.to_string()),
    };
    let body = quote.map_or_else(|e| e, |q| q.to_string());
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await.expect("write");
    header
}

#[keel::instrument]
async fn checkout(port: u16) -> Result<u64, String> {
    // Across a thread: tokio's blocking pool, the context (and so the current call) carried.
    let subtotal = context::tokio::spawn_blocking(|| price_items(&[1, 2, 3]))
        .await
        .map_err(|e| e.to_string())?;
    // Across tasks and a socket: another task sends the request, the server task answers.
    let shipping = context::tokio::spawn(fetch_shipping(port))
        .await
        .map_err(|e| e.to_string())??;
    Ok(subtotal + shipping)
}

fn print_tree(rows: &[Row]) {
    let ids: HashMap<SpanId, usize> = rows.iter().enumerate().map(|(i, r)| (r.span, i)).collect();
    let mut children: HashMap<Option<SpanId>, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let parent = row.parent.filter(|p| ids.contains_key(p));
        children.entry(parent).or_default().push(i);
    }
    let mut table = Table::new(&["span (tree)", "span id", "parent id", "thread", "time"]);
    fn walk(
        at: Option<SpanId>,
        depth: usize,
        rows: &[Row],
        children: &HashMap<Option<SpanId>, Vec<usize>>,
        table: &mut Table,
    ) {
        let mut mine = children.get(&at).cloned().unwrap_or_default();
        mine.sort_by_key(|&i| rows[i].span);
        for i in mine {
            let row = &rows[i];
            let name = row.name.trim_start_matches("tour::spans::");
            let label = format!(
                "{}{name}{}",
                "  ".repeat(depth),
                if row.remote_parent {
                    "  <- traceparent"
                } else {
                    ""
                }
            );
            let parent = row.parent.map_or("-".to_string(), |p| p.to_string());
            table.row(&[&label, &row.span, &parent, &row.thread, &dur(row.elapsed)]);
            walk(Some(row.span), depth + 1, rows, children, table);
        }
    }
    walk(None, 0, rows, &children, &mut table);
    table.print();
}

pub fn run() {
    let collect = Collect::default();
    trace::clear_sinks();
    trace::add_sink(collect.clone());
    trace::enable();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name_fn(|| {
            static N: AtomicUsize = AtomicUsize::new(0);
            format!("tokio-{}", N.fetch_add(1, Ordering::Relaxed))
        })
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (total, header) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(serve(listener));
        let total = checkout(port).await;
        (total, server.await.expect("server task"))
    });
    trace::disable();
    trace::clear_sinks();
    drop(runtime);

    let rows = std::mem::take(&mut *collect.0.lock().unwrap());
    println!(
        "checkout(port) = {total:?}: a blocking thread prices the items, a client task asks a \
         server task for shipping over 127.0.0.1"
    );
    println!("traceparent on the wire: {header}");
    print_tree(&rows);
    let trace = rows.iter().find(|r| r.parent.is_none()).map(|r| r.trace);
    let same = rows.iter().filter(|r| Some(r.trace) == trace).count();
    println!(
        "trace id {}: shared by {same} of {} spans, on {} threads",
        trace.map_or("-".to_string(), |t| t.to_string()),
        rows.len(),
        rows.iter()
            .map(|r| r.thread.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    );
    assert_eq!(total, Ok(1500 + 297));
    assert_eq!(same, rows.len());

    let parsed: TraceParent = header.parse().expect("a valid header");
    let mut table = Table::new(&["traceparent header", "per call"]);
    table
        .row(&[
            &"format (Display)",
            &ns(per_call(200_000, || parsed.to_string())),
        ])
        .row(&[
            &"parse (W3C rules, str::parse)",
            &ns(per_call(200_000, || header.parse::<TraceParent>())),
        ]);
    table.print();
}
