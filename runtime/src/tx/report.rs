//! What a finished transaction reports: its `keel::tx::<name>` trace span (entered when the
//! transaction starts, ended with how it settled) and, in unit tests, a per-thread record.

use super::Options;
#[cfg(feature = "trace")]
use crate::trace::{self, CallSite, Span};
#[cfg(test)]
use std::cell::RefCell;
#[cfg(feature = "trace")]
use std::sync::{Mutex, PoisonError};

/// How a transaction settled (named apart from [`trace::Outcome`](crate::trace::Outcome), the
/// span's `Ok`/`Err`, which this is turned into).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Settled {
    /// Committed (or, nested, its savepoint released / its joined work kept).
    Committed,
    /// Rolled back: the body failed or panicked, the commit failed or was denied, or a joined
    /// inner transaction marked it rollback-only.
    RolledBack,
    /// Never began: `tx.begin` denied, an unsupported option, `nested = "fail"`, or `BEGIN`
    /// itself failed.
    NotStarted,
}

/// What one call of `run` / `run_async` (retries included) did: what the trace span reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(test, feature = "trace")), allow(dead_code))] // read by the span and tests
pub(crate) struct Report {
    pub name: &'static str,
    pub depth: usize,
    pub settled: Settled,
    pub retries: u32,
    /// `retry` gave up: the last allowed attempt failed with a transient error.
    pub exhausted: bool,
}

#[cfg(test)]
thread_local! {
    /// Every report made on this thread (unit tests only).
    pub(crate) static REPORTS: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
}

/// Where a transaction was called from: the user's function (`#[track_caller]` on the entry
/// points carries it in), reported as the span's file and line.
pub(crate) type Caller = &'static std::panic::Location<'static>;

/// The trace span of one transaction (all its attempts).
pub(crate) struct Traced {
    #[cfg(feature = "trace")]
    span: Span,
}

impl Traced {
    /// No span yet (the transaction has not started).
    #[inline(always)]
    pub const fn not_started() -> Self {
        Self {
            #[cfg(feature = "trace")]
            span: Span::inactive(),
        }
    }

    /// Enters the `keel::tx::<name>` span: call site made on first use while tracing is on, with
    /// the database as an entry field. Inactive, and one atomic load, while tracing is off and no
    /// thread captures.
    #[inline]
    pub fn start(options: &Options, database: &'static str, caller: Caller) -> Self {
        #[cfg(feature = "trace")]
        let span = if trace::may_trace() {
            Span::enter_with_values(
                call_site(options.name, caller),
                &[("database", trace::FieldValue::Str(database))],
            )
        } else {
            Span::inactive()
        };
        #[cfg(not(feature = "trace"))]
        let _ = (options, database, caller);
        Self {
            #[cfg(feature = "trace")]
            span,
        }
    }

    /// Ends the span with the report (in place: nothing is moved while tracing is off).
    #[inline]
    pub fn finish(&mut self, report: Report) {
        #[cfg(test)]
        REPORTS.with_borrow_mut(|reports| reports.push(report));
        #[cfg(feature = "trace")]
        if self.span.is_active() {
            finish_span(std::mem::replace(&mut self.span, Span::inactive()), &report);
        }
        #[cfg(not(feature = "trace"))]
        let _ = report;
    }
}

/// Ends the transaction's `keel::trace` span with its outcome (`Ok` for a commit,
/// `Err("rolled back")`, `Err("retries exhausted")` or `Err("not started")` otherwise) and a
/// `"return"` field such as `committed after 2 retries` or
/// `rolled back after 3 retries (retries exhausted, 4 attempts)`.
#[cfg(feature = "trace")]
#[inline(never)]
fn finish_span(span: Span, report: &Report) {
    let summary = summary(report);
    let outcome = match report.settled {
        Settled::Committed => trace::Outcome::Ok,
        Settled::RolledBack if report.exhausted => trace::Outcome::Err("retries exhausted".into()),
        Settled::RolledBack => trace::Outcome::Err("rolled back".into()),
        Settled::NotStarted => trace::Outcome::Err("not started".into()),
    };
    span.finish_with_value(outcome, &format_args!("{summary}"));
}

/// The span's `"return"` field: `committed`, `rolled back after 1 retry`,
/// `rolled back after 3 retries (retries exhausted, 4 attempts)`.
#[cfg_attr(not(any(test, feature = "trace")), allow(dead_code))]
fn summary(report: &Report) -> String {
    let verb = match report.settled {
        Settled::Committed => "committed",
        Settled::RolledBack => "rolled back",
        Settled::NotStarted => "not started",
    };
    let mut summary = match report.retries {
        0 => verb.to_owned(),
        1 => format!("{verb} after 1 retry"),
        n => format!("{verb} after {n} retries"),
    };
    if report.exhausted {
        let attempts = report.retries + 1;
        let s = if attempts == 1 { "" } else { "s" };
        summary.push_str(&format!(" (retries exhausted, {attempts} attempt{s})"));
    }
    summary
}

/// The call site for transactions named `name` called from `caller`. Names and locations come
/// from the program's source, so the set is finite: each pair is created (and leaked) once.
#[cfg(feature = "trace")]
fn call_site(name: &'static str, caller: Caller) -> &'static CallSite {
    use std::collections::BTreeMap;
    type Key = (&'static str, &'static str, u32, u32);
    static SITES: Mutex<BTreeMap<Key, &'static CallSite>> = Mutex::new(BTreeMap::new());
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (name, caller.file(), caller.line(), caller.column());
    sites.entry(key).or_insert_with(|| {
        let qualified: &'static str = Box::leak(format!("keel::tx::{name}").into_boxed_str());
        Box::leak(Box::new(CallSite::new(
            qualified,
            "keel::tx",
            caller.file(),
            caller.line(),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_count_retries_and_say_when_they_ran_out() {
        let report = |settled, retries, exhausted| Report {
            name: "t",
            depth: 0,
            settled,
            retries,
            exhausted,
        };
        assert_eq!(summary(&report(Settled::Committed, 0, false)), "committed");
        assert_eq!(
            summary(&report(Settled::Committed, 1, false)),
            "committed after 1 retry"
        );
        assert_eq!(
            summary(&report(Settled::RolledBack, 3, true)),
            "rolled back after 3 retries (retries exhausted, 4 attempts)"
        );
        assert_eq!(
            summary(&report(Settled::NotStarted, 0, true)),
            "not started (retries exhausted, 1 attempt)"
        );
    }

    #[cfg(feature = "trace")]
    #[test]
    fn the_span_records_the_database_as_a_string() {
        use crate::trace::event::Value;
        let options = Options {
            name: "typed_database",
            ..Options::default()
        };
        trace::enable();
        let (_, events) = trace::capture(|| {
            let mut traced = Traced::start(&options, "SQLite", std::panic::Location::caller());
            traced.finish(Report {
                name: options.name,
                depth: 0,
                settled: Settled::Committed,
                retries: 0,
                exhausted: false,
            });
        });
        let enter = events
            .iter()
            .find(|event| event.name() == "keel::tx::typed_database" && event.is_enter())
            .expect("the transaction's span");
        // Typed when recorded (sent as an OTLP string as is), printed as its `Debug` text.
        assert_eq!(
            enter.values(),
            [("database", Value::Str("SQLite".to_string()))]
        );
        assert_eq!(enter.field("database"), Some("\"SQLite\""));
    }
}
