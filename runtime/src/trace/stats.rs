//! `Stats`: per-function counters and latency percentiles (a tiny APM).
//!
//! Each thread records into its own cells (plain loads and stores, no read-modify-write atomics,
//! no lock), so the cost per call stays a few nanoseconds and threads never contend; a report
//! merges the cells of every thread. Latencies go into a log-linear histogram (8 sub-buckets per
//! power of two, so a percentile is accurate to within 1/16 of its value).

use super::call_site::CallSite;
use super::event::{Event, EventKind, Outcome};
use super::interest::Interest;
use super::sink::Sink;
use core::fmt;
use core::time::Duration;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets 0..16 hold 0..16 ns exactly; then 8 per power of two up to `u64::MAX`.
const BUCKETS: usize = ((64 - SUB_BITS) as usize) * SUB as usize + SUB as usize;

/// A [`Sink`] that aggregates exits per function: calls, errors, panics, cancellations, and
/// total / min / max / p50 / p99 latency. Clones share the same numbers.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Outcome, Span, Stats};
/// static SITE: CallSite = CallSite::new("doc::stats::query", "doc::stats", "s.rs", 1);
///
/// let stats = Stats::new();
/// trace::add_sink(stats.clone());
/// trace::enable();
/// for i in 0..10 {
///     let span = Span::enter(&SITE);
///     span.finish(if i == 0 { Outcome::Err("timeout".into()) } else { Outcome::Ok });
/// }
/// let query = stats.function("doc::stats::query").unwrap();
/// assert_eq!((query.calls(), query.errors(), query.panics()), (10, 1, 0));
/// assert!(query.min() <= query.p50() && query.p50() <= query.p99() && query.p99() <= query.max());
/// println!("{}", stats.report()); // a table, one row per function
/// ```
#[derive(Clone)]
pub struct Stats {
    inner: Arc<Inner>,
}

struct Inner {
    id: usize,
    /// Installed as a sink at some point (what an empty report uses to say why it is empty).
    added: AtomicBool,
    cells: Mutex<Vec<(&'static CallSite, Arc<Cells>)>>,
}

struct Cells {
    calls: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    cancelled: AtomicU64,
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

static NEXT_STATS_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's cells: `[stats id][call site id]`.
    static LOCAL: RefCell<Vec<Vec<Option<Arc<Cells>>>>> = const { RefCell::new(Vec::new()) };
}

impl Stats {
    /// Empty statistics; add them as a sink with [`add_sink`](super::add_sink).
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                id: NEXT_STATS_ID.fetch_add(1, Ordering::Relaxed),
                added: AtomicBool::new(false),
                cells: Mutex::new(Vec::new()),
            }),
        }
    }

    #[inline]
    pub(crate) fn record(&self, site: &'static CallSite, nanos: u64, outcome: &Outcome) {
        let site_id = site.id() as usize;
        let recorded = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if local.len() <= self.inner.id {
                local.resize_with(self.inner.id + 1, Vec::new);
            }
            let row = &mut local[self.inner.id];
            if row.len() <= site_id {
                row.resize_with(site_id + 1, || None);
            }
            let cells = row[site_id].get_or_insert_with(|| self.new_cells(site));
            cells.add_owned(nanos, outcome);
        });
        if recorded.is_err() {
            // This thread's locals are gone (a traced call during thread teardown): record into
            // fresh cells with read-modify-write atomics.
            self.new_cells(site).add_shared(nanos, outcome);
        }
    }

    fn new_cells(&self, site: &'static CallSite) -> Arc<Cells> {
        let cells = Arc::new(Cells::new());
        self.inner
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((site, Arc::clone(&cells)));
        cells
    }

    /// The figures of every function seen so far, merged across threads, slowest total first.
    pub fn report(&self) -> Report {
        let cells = self
            .inner
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut merged: BTreeMap<&'static str, Merged> = BTreeMap::new();
        for (site, cells) in &cells {
            merged.entry(site.name()).or_default().add(cells);
        }
        let mut functions: Vec<FunctionStats> = merged
            .into_iter()
            .filter(|(_, m)| m.calls > 0)
            .map(|(name, m)| m.finish(name))
            .collect();
        functions.sort_by(|a, b| b.total.cmp(&a.total).then(a.name.cmp(b.name)));
        let empty_because = functions.is_empty().then(|| self.why_empty());
        Report {
            functions,
            empty_because,
        }
    }

    /// Why nothing was recorded, the likeliest cause first.
    fn why_empty(&self) -> EmptyBecause {
        // What any first use of `keel::trace` does: `KEEL_TRACE` may turn tracing on.
        super::state::ensure_initialized();
        if !super::state::was_ever_enabled() {
            EmptyBecause::NeverEnabled
        } else if !self.inner.added.load(Ordering::Relaxed) {
            EmptyBecause::NeverAdded
        } else {
            EmptyBecause::NoCalls
        }
    }

    /// Notes that this `Stats` (or a clone) was installed with [`add_sink`](super::add_sink).
    pub(crate) fn mark_added(&self) {
        self.inner.added.store(true, Ordering::Relaxed);
    }

    /// The figures of one function, by qualified name.
    pub fn function(&self, name: &str) -> Option<FunctionStats> {
        self.report().functions.into_iter().find(|f| f.name == name)
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats").field("id", &self.inner.id).finish()
    }
}

impl Sink for Stats {
    #[inline]
    fn event(&self, event: &Event) {
        if let EventKind::Exit { elapsed, outcome } = event.kind() {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            self.record(event.call_site(), nanos, outcome);
        }
    }

    /// Exits only, no context snapshot. (Exits reach a `Stats` without an event when every
    /// installed sink is one of keel's own: the dispatcher knows it by its type.)
    fn interest(&self) -> Interest {
        Interest::new().enters(false).context(false)
    }
}

impl Cells {
    fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// Single writer (the owning thread): plain loads and stores.
    #[inline]
    fn add_owned(&self, nanos: u64, outcome: &Outcome) {
        fn bump(cell: &AtomicU64, by: u64) {
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(by),
                Ordering::Relaxed,
            );
        }
        bump(&self.calls, 1);
        bump(&self.total_ns, nanos);
        bump(&self.buckets[bucket_of(nanos)], 1);
        if nanos < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.store(nanos, Ordering::Relaxed);
        }
        if nanos > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.store(nanos, Ordering::Relaxed);
        }
        match outcome {
            Outcome::Ok => {}
            Outcome::Err(_) => bump(&self.errors, 1),
            Outcome::Panicked => bump(&self.panics, 1),
            Outcome::Cancelled => bump(&self.cancelled, 1),
        }
    }

    /// Any writer.
    fn add_shared(&self, nanos: u64, outcome: &Outcome) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(nanos, Ordering::Relaxed);
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.min_ns.fetch_min(nanos, Ordering::Relaxed);
        self.max_ns.fetch_max(nanos, Ordering::Relaxed);
        let counter = match outcome {
            Outcome::Ok => return,
            Outcome::Err(_) => &self.errors,
            Outcome::Panicked => &self.panics,
            Outcome::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The histogram bucket of a latency in nanoseconds.
fn bucket_of(nanos: u64) -> usize {
    if nanos < 2 * SUB {
        return nanos as usize;
    }
    let exponent = 63 - nanos.leading_zeros(); // >= SUB_BITS + 1
    let shift = exponent - SUB_BITS;
    let mantissa = (nanos >> shift) & (SUB - 1);
    (shift as usize) * SUB as usize + mantissa as usize + SUB as usize
}

/// The smallest latency a bucket holds, and its width.
fn bucket_range(index: usize) -> (u64, u64) {
    if index < 2 * SUB as usize {
        return (index as u64, 1);
    }
    let q = index - SUB as usize;
    let shift = (q / SUB as usize) as u32;
    let mantissa = (q % SUB as usize) as u64;
    ((SUB + mantissa) << shift, 1u64 << shift)
}

#[derive(Default)]
struct Merged {
    calls: u64,
    errors: u64,
    panics: u64,
    cancelled: u64,
    total_ns: u64,
    min_ns: Option<u64>,
    max_ns: u64,
    buckets: Vec<u64>,
}

impl Merged {
    fn add(&mut self, cells: &Cells) {
        let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        self.calls += load(&cells.calls);
        self.errors += load(&cells.errors);
        self.panics += load(&cells.panics);
        self.cancelled += load(&cells.cancelled);
        self.total_ns = self.total_ns.saturating_add(load(&cells.total_ns));
        let min = load(&cells.min_ns);
        if min != u64::MAX {
            self.min_ns = Some(self.min_ns.map_or(min, |m| m.min(min)));
        }
        self.max_ns = self.max_ns.max(load(&cells.max_ns));
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS];
        }
        for (sum, cell) in self.buckets.iter_mut().zip(cells.buckets.iter()) {
            *sum += load(cell);
        }
    }

    /// The latency below which a fraction `q` of calls fall (bucket midpoint, within min..=max).
    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bucket_range(index);
                let mid = low.saturating_add(width / 2);
                return mid.clamp(self.min_ns.unwrap_or(0), self.max_ns);
            }
        }
        self.max_ns
    }

    fn finish(&self, name: &'static str) -> FunctionStats {
        FunctionStats {
            name,
            calls: self.calls,
            errors: self.errors,
            panics: self.panics,
            cancelled: self.cancelled,
            total: Duration::from_nanos(self.total_ns),
            min: Duration::from_nanos(self.min_ns.unwrap_or(0)),
            max: Duration::from_nanos(self.max_ns),
            p50: Duration::from_nanos(self.quantile(0.50)),
            p99: Duration::from_nanos(self.quantile(0.99)),
        }
    }
}

/// The figures of one function (see [`Stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionStats {
    name: &'static str,
    calls: u64,
    errors: u64,
    panics: u64,
    cancelled: u64,
    total: Duration,
    min: Duration,
    max: Duration,
    p50: Duration,
    p99: Duration,
}

impl FunctionStats {
    /// The function's qualified name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// Completed calls (every exit, whatever its outcome).
    pub fn calls(&self) -> u64 {
        self.calls
    }
    /// Calls that returned `Err`.
    pub fn errors(&self) -> u64 {
        self.errors
    }
    /// Calls that panicked.
    pub fn panics(&self) -> u64 {
        self.panics
    }
    /// Futures dropped before completion.
    pub fn cancelled(&self) -> u64 {
        self.cancelled
    }
    /// Time spent in all calls together.
    pub fn total(&self) -> Duration {
        self.total
    }
    /// Mean time per call.
    pub fn mean(&self) -> Duration {
        if self.calls == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos((self.total.as_nanos() / u128::from(self.calls)) as u64)
        }
    }
    /// Fastest call.
    pub fn min(&self) -> Duration {
        self.min
    }
    /// Slowest call.
    pub fn max(&self) -> Duration {
        self.max
    }
    /// Median latency (from the histogram: within 1/16 of the true value).
    pub fn p50(&self) -> Duration {
        self.p50
    }
    /// 99th-percentile latency (from the histogram).
    pub fn p99(&self) -> Duration {
        self.p99
    }
}

/// A [`Stats`] snapshot; `Display` renders it as a table.
///
/// A report with no function says why under its header: tracing was never enabled, the `Stats`
/// was never added as a sink, or no traced call has finished since.
///
/// ```
/// use keel_runtime::trace::Stats;
/// let stats = Stats::new(); // never added with `add_sink`
/// let table = stats.report().to_string();
/// assert!(table.contains("no calls recorded"), "{table}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    functions: Vec<FunctionStats>,
    /// Why `functions` is empty (`None` when it is not).
    empty_because: Option<EmptyBecause>,
}

/// Why a [`Report`] has no function, the likeliest cause first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EmptyBecause {
    /// Neither `enable()` nor `KEEL_TRACE` ever turned tracing on.
    NeverEnabled,
    /// Neither the `Stats` nor any clone of it was ever given to `add_sink`.
    NeverAdded,
    /// Tracing was on and the sink installed, but no call reached it (the filter, the switch
    /// turned off again, or simply no instrumented function finished yet).
    NoCalls,
}

impl fmt::Display for EmptyBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NeverEnabled => {
                "no calls recorded: tracing was never enabled \
                 (call keel::trace::enable(), or set KEEL_TRACE to a filter such as KEEL_TRACE=myapp)"
            }
            Self::NeverAdded => {
                "no calls recorded: this Stats was never added as a sink \
                 (keel::trace::add_sink(stats.clone()))"
            }
            Self::NoCalls => {
                "no calls recorded: no traced call has finished since this Stats was added \
                 (is the function instrumented, tracing still on, and the filter letting it through?)"
            }
        })
    }
}

impl Report {
    /// One entry per function, slowest total first.
    pub fn functions(&self) -> &[FunctionStats] {
        &self.functions
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .functions
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0)
            .max("function".len());
        writeln!(
            f,
            "{:<width$} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "function", "calls", "errors", "panics", "total", "mean", "min", "p50", "p99", "max"
        )?;
        for s in &self.functions {
            writeln!(
                f,
                "{:<width$} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                s.name,
                s.calls,
                s.errors,
                s.panics,
                human(s.total),
                human(s.mean()),
                human(s.min),
                human(s.p50),
                human(s.p99),
                human(s.max),
            )?;
        }
        if let Some(reason) = self.empty_because {
            writeln!(f, "({reason})")?;
        }
        Ok(())
    }
}

/// `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.1}µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2}ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2}s", nanos as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut previous = 0;
        for nanos in (0..5000u64).chain([u64::MAX / 3, u64::MAX]) {
            let index = bucket_of(nanos);
            assert!(index < BUCKETS, "{nanos} -> {index}");
            let (low, width) = bucket_range(index);
            assert!(
                low <= nanos && nanos - low < width,
                "{nanos} not in bucket {index}"
            );
            if nanos < 5000 {
                assert!(index == previous || index == previous + 1);
                previous = index;
            }
        }
    }

    #[test]
    fn quantiles_are_close() {
        static SITE: CallSite = CallSite::new("stats::q", "stats", "s.rs", 1);
        let stats = Stats::new();
        for nanos in 1..=1000u64 {
            stats.record(&SITE, nanos * 1000, &Outcome::Ok);
        }
        stats.record(&SITE, 5, &Outcome::Panicked);
        let f = stats.function("stats::q").unwrap();
        assert_eq!((f.calls(), f.panics(), f.errors()), (1001, 1, 0));
        let p50 = f.p50().as_nanos() as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.07, "p50 = {p50}");
        let p99 = f.p99().as_nanos() as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.07, "p99 = {p99}");
        assert_eq!(f.min(), Duration::from_nanos(5));
        assert_eq!(f.max(), Duration::from_micros(1000));
    }

    #[test]
    fn threads_are_merged() {
        static SITE: CallSite = CallSite::new("stats::threads", "stats", "s.rs", 1);
        let stats = Stats::new();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        stats.record(&SITE, 10, &Outcome::Err("x".into()));
                    }
                });
            }
        });
        let f = stats.function("stats::threads").unwrap();
        assert_eq!((f.calls(), f.errors()), (200, 200));
        assert_eq!(f.total(), Duration::from_nanos(2000));
        let table = stats.report().to_string();
        assert!(table.lines().nth(1).unwrap().starts_with("stats::threads"));
    }
}
