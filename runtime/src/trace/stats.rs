//! `Stats`: per-function counters and latency percentiles (a tiny APM).
//!
//! Each thread records into its own cells (plain loads and stores, no read-modify-write atomics,
//! no lock), so the cost per call stays a few nanoseconds and threads never contend; a report
//! merges the cells of every thread. A thread finds its cells through one table of its own,
//! reached by a plain thread-local pointer (no lazy-initialisation check, no borrow flag).
//! Latencies go into a log-linear histogram (8 sub-buckets per power of two, so a percentile is
//! accurate to within 1/16 of its value).
//!
//! A call's histogram bucket is counted by the next call of the same function on the same thread
//! (until then it waits in the cells, and a report counts it from there). The bucket's address
//! depends on the latency, which depends on the clock reading just taken at the exit; an
//! increment at that address has to wait for the reading, and held the traced thread back by
//! about as long as the rest of a `Stats` call together. The previous call's bucket is known
//! long before, so its increment does not wait. The other figures (count, total, min, max,
//! outcomes) are updated at once.

use super::call_site::CallSite;
use super::event::{Event, EventKind, Outcome};
use super::interest::Interest;
use super::sink::Sink;
use core::fmt;
use core::time::Duration;
use std::cell::Cell;
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
    /// Unique to this `Stats` and its clones (its row in every thread's table); kept beside the
    /// `Arc` rather than behind it, one load less per record.
    id: usize,
    inner: Arc<Inner>,
}

struct Inner {
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
    /// The bucket of this thread's latest call, not yet counted in `buckets` (single writer:
    /// [`Cells::add_owned`]), plus one; 0 for none.
    pending: AtomicUsize,
    /// `buckets[b + 1]` counts bucket `b`; `buckets[0]` is where "no pending bucket" is counted,
    /// read by nobody.
    buckets: [AtomicU64; BUCKETS + 1],
}

static NEXT_STATS_ID: AtomicUsize = AtomicUsize::new(0);

/// One thread's cells: `[stats id][call site id]`.
type Table = Vec<Vec<Option<Arc<Cells>>>>;

thread_local! {
    /// This thread's table (null until its first record, and again once the thread's locals are
    /// being destroyed). A `Copy` value with no destructor: reading it is a plain access to
    /// thread-local memory, valid at any time in the thread's life. Only this thread reads or
    /// writes the table, and only inside [`Stats::record`] (which calls out to nothing that
    /// records while it holds a reference into the table).
    static TABLE: Cell<*mut Table> = const { Cell::new(core::ptr::null_mut()) };
    /// Frees this thread's table when the thread ends; touched once, when the table is made.
    static TABLE_OWNER: TableOwner = const { TableOwner };
}

/// Owns the table `TABLE` points to, for the thread-local destructor.
struct TableOwner;

impl Drop for TableOwner {
    fn drop(&mut self) {
        let table = TABLE.with(|table| table.replace(core::ptr::null_mut()));
        if !table.is_null() {
            // SAFETY: a non-null `TABLE` comes from `Box::into_raw` in `Stats::record_slow` on
            // this thread, and is freed only here, after being swapped out for null, so no later
            // access (a record during the rest of the thread's teardown finds null) can reach it.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}

impl Stats {
    /// Empty statistics; add them as a sink with [`add_sink`](super::add_sink).
    pub fn new() -> Self {
        Self {
            id: NEXT_STATS_ID.fetch_add(1, Ordering::Relaxed),
            inner: Arc::new(Inner {
                added: AtomicBool::new(false),
                cells: Mutex::new(Vec::new()),
            }),
        }
    }

    #[inline(always)]
    pub(crate) fn record(&self, site: &'static CallSite, nanos: u64, outcome: &Outcome) {
        let site_id = site.id() as usize;
        let table = TABLE.with(Cell::get);
        if !table.is_null() {
            // SAFETY: a non-null `TABLE` points to this thread's live table (`TableOwner` nulls
            // it before freeing it), which only this thread touches, and only here and in
            // `record_slow`, neither of which runs while the other holds a reference into it.
            let table = unsafe { &*table };
            if let Some(Some(cells)) = table.get(self.id).and_then(|row| row.get(site_id)) {
                cells.add_owned(nanos, outcome);
                return;
            }
        }
        self.record_slow(site, nanos, outcome);
    }

    /// [`record`](Self::record) of a site this thread has not recorded into this `Stats` yet:
    /// makes its cells (and the thread's table, the first time).
    #[cold]
    #[inline(never)]
    fn record_slow(&self, site: &'static CallSite, nanos: u64, outcome: &Outcome) {
        if TABLE_OWNER.try_with(|_| ()).is_err() {
            // This thread's locals are being destroyed (a traced call during thread teardown):
            // record into fresh cells with read-modify-write atomics.
            self.new_cells(site).add_shared(nanos, outcome);
            return;
        }
        let mut table = TABLE.with(Cell::get);
        if table.is_null() {
            table = Box::into_raw(Box::default());
            TABLE.with(|slot| slot.set(table));
        }
        // SAFETY: `table` is this thread's live table (just made, or read from `TABLE`, see
        // `record`); no other reference to it exists while this function runs (`new_cells`
        // below takes a lock and allocates, and records nothing).
        let table = unsafe { &mut *table };
        let stats_id = self.id;
        if table.len() <= stats_id {
            table.resize_with(stats_id + 1, Vec::new);
        }
        let row = &mut table[stats_id];
        let site_id = site.id() as usize;
        if row.len() <= site_id {
            row.resize_with(site_id + 1, || None);
        }
        row[site_id]
            .get_or_insert_with(|| self.new_cells(site))
            .add_owned(nanos, outcome);
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
        f.debug_struct("Stats").field("id", &self.id).finish()
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
            pending: AtomicUsize::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS + 1],
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
        // This call's bucket waits; the previous call's (or the unread slot 0) is counted now.
        let previous = self.pending.load(Ordering::Relaxed);
        self.pending.store(bucket_of(nanos) + 1, Ordering::Relaxed);
        bump(&self.buckets[previous], 1);
        if nanos < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.store(nanos, Ordering::Relaxed);
        }
        if nanos > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.store(nanos, Ordering::Relaxed);
        }
        if !matches!(outcome, Outcome::Ok) {
            self.add_failure_owned(outcome);
        }
    }

    /// The outcome's counter of a call that did not return `Ok` (single writer).
    #[cold]
    #[inline(never)]
    fn add_failure_owned(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Ok => return,
            Outcome::Err(_) => &self.errors,
            Outcome::Panicked => &self.panics,
            Outcome::Cancelled => &self.cancelled,
        };
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// Any writer.
    fn add_shared(&self, nanos: u64, outcome: &Outcome) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(nanos, Ordering::Relaxed);
        self.buckets[bucket_of(nanos) + 1].fetch_add(1, Ordering::Relaxed);
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
        for (sum, cell) in self.buckets.iter_mut().zip(&cells.buckets[1..]) {
            *sum += load(cell);
        }
        // The latest call's bucket, not yet counted by the thread (see the module's notes).
        if let Some(bucket) = cells.pending.load(Ordering::Relaxed).checked_sub(1) {
            self.buckets[bucket] += 1;
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
    fn the_latest_call_counts_in_the_percentiles_before_the_next_one() {
        static SITE: CallSite = CallSite::new("stats::latest", "stats", "s.rs", 1);
        let stats = Stats::new();
        stats.record(&SITE, 1_000, &Outcome::Ok);
        let one = stats.function("stats::latest").unwrap();
        assert_eq!(
            (one.calls(), one.p50(), one.p99()),
            (1, Duration::from_nanos(1_000), Duration::from_nanos(1_000))
        );
        stats.record(&SITE, 64_000, &Outcome::Ok);
        stats.record(&SITE, 64_000, &Outcome::Ok);
        let three = stats.function("stats::latest").unwrap();
        assert_eq!(three.calls(), 3);
        // Two of three calls in the 64 µs bucket (one of them still waiting to be counted).
        let p50 = three.p50().as_nanos();
        assert!((60_000..=68_000).contains(&p50), "p50 = {p50}");
        assert_eq!(three.min(), Duration::from_nanos(1_000));
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
