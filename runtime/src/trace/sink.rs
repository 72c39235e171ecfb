//! `Sink`: where events go, and the process-wide list of installed sinks.

use super::call_site::CallSite;
use super::event::Event;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Receives every event of every traced call that passes the switch and the filter.
///
/// Sinks run on the thread that makes the call, inside it, so they should be quick; a sink must
/// not call instrumented functions itself. Closures `Fn(&Event)` are sinks too.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Event, Outcome, Span};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static EXITS: AtomicUsize = AtomicUsize::new(0);
/// static SITE: CallSite = CallSite::new("doc::sink::op", "doc::sink", "sink.rs", 1);
/// trace::add_sink(|event: &Event| {
///     if event.name() == "doc::sink::op" && event.is_exit() {
///         EXITS.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// trace::enable();
/// Span::enter(&SITE).finish(Outcome::Ok);
/// assert_eq!(EXITS.load(Ordering::Relaxed), 1);
/// ```
pub trait Sink: Send + Sync + 'static {
    /// Called once per event.
    fn event(&self, event: &Event);

    /// Whether this sink wants entry events. A sink that only looks at exits (such as
    /// [`Stats`](super::Stats)) returns `false`, and calls then skip building entry events when
    /// no other sink or capture wants them. Read once, when the sink is added.
    fn wants_enters(&self) -> bool {
        true
    }

    /// Whether this sink wants the entry events that carry no fields (calls recording no
    /// arguments), when it wants entry events at all. A sink that reads entries only for their
    /// fields (the OTLP sink, which sends them as the span's attributes) returns `false`, and
    /// such calls then skip building their entry event when no other sink or capture wants it.
    /// Read once, when the sink is added.
    ///
    /// ```
    /// use keel_runtime::trace::{Event, Sink};
    /// struct Arguments;
    /// impl Sink for Arguments {
    ///     fn event(&self, event: &Event) {
    ///         for (name, value) in event.fields() {
    ///             println!("{} {name}={value}", event.name());
    ///         }
    ///     }
    ///     fn wants_enters_without_fields(&self) -> bool {
    ///         false
    ///     }
    /// }
    /// keel_runtime::trace::add_sink(Arguments);
    /// ```
    fn wants_enters_without_fields(&self) -> bool {
        true
    }

    /// Whether this sink reads [`Event::context`](super::Event::context). A sink that does not
    /// (such as [`Stats`](super::Stats)) returns `false`, and events then skip the context
    /// snapshot when no other sink or capture wants it. Read once, when the sink is added.
    fn wants_context(&self) -> bool {
        true
    }

    /// Whether this sink wants [`resume`](Self::resume) and [`suspend`](Self::suspend), the
    /// polls of calls that suspend (`async fn`s, [`Span::scope`](super::Span::scope)). Off by
    /// default, so that polls cost nothing for sinks that only count and time calls. Read once,
    /// when the sink is added.
    fn wants_polls(&self) -> bool {
        false
    }

    /// A suspended call is about to run again on this thread: a new poll of its future begins.
    ///
    /// A call runs on one thread at a time, between its entry event and its first suspension,
    /// between each `resume` and the next `suspend`, and between the last `resume` and its exit
    /// event: every `suspend` is followed by a `resume` on the thread that polls next (also
    /// before the exit of a call whose future is dropped while suspended), and the exit event
    /// comes while the call runs. A synchronous call never suspends. This is where a sink that
    /// keeps per-thread state (`tracing`'s current span) enters the call again, on whichever
    /// thread the poll runs.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Event, Sink};
    /// use std::sync::Mutex;
    ///
    /// #[derive(Default)]
    /// struct Polls(Mutex<Vec<String>>);
    /// impl Sink for Polls {
    ///     fn event(&self, event: &Event) {
    ///         let kind = if event.is_enter() { "enter" } else { "exit" };
    ///         self.0.lock().unwrap().push(format!("{kind} {}", event.name()));
    ///     }
    ///     fn wants_polls(&self) -> bool {
    ///         true
    ///     }
    ///     fn resume(&self, site: &'static CallSite, _call_id: u64) {
    ///         self.0.lock().unwrap().push(format!("resume {}", site.name()));
    ///     }
    ///     fn suspend(&self, site: &'static CallSite, _call_id: u64) {
    ///         self.0.lock().unwrap().push(format!("suspend {}", site.name()));
    ///     }
    /// }
    /// # let _ = Polls::default();
    /// ```
    #[allow(unused_variables)]
    fn resume(&self, site: &'static CallSite, call_id: u64) {}

    /// The call stops running on this thread: its poll returned `Pending` (see
    /// [`resume`](Self::resume) for the order of calls).
    #[allow(unused_variables)]
    fn suspend(&self, site: &'static CallSite, call_id: u64) {}

    /// Whether this sink wants the events of unsampled calls (see
    /// [`set_sampler`](super::set_sampler)). `true` by default, for sinks that count or print
    /// every call; a sink that exports spans (the OTLP sink) returns `false` and then sees only
    /// sampled calls, and an unsampled call emits nothing when only such sinks listen. Read
    /// once, when the sink is added.
    fn wants_unsampled(&self) -> bool {
        true
    }

    /// keel's own [`Stats`](super::Stats) sink says so here, so that calls can record straight
    /// into it, without building an [`Event`], when it is the only kind of sink installed.
    #[doc(hidden)]
    fn as_stats(&self) -> Option<&super::Stats> {
        None
    }

    /// The OTLP sink says so here, so that exits can be queued for export without building an
    /// [`Event`] when every installed sink is one that calls can reach directly.
    #[doc(hidden)]
    #[cfg(feature = "otlp")]
    fn as_otlp(&self) -> Option<&super::otlp::OtlpSink> {
        None
    }
}

/// A sink that exits reach without an [`Event`] being built.
pub(crate) enum Direct {
    Stats(super::Stats),
    #[cfg(feature = "otlp")]
    Otlp(super::otlp::OtlpSink),
}

impl Direct {
    fn of(sink: &dyn Sink) -> Option<Self> {
        if let Some(stats) = sink.as_stats() {
            return Some(Self::Stats(stats.clone()));
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = sink.as_otlp() {
            return Some(Self::Otlp(otlp.clone()));
        }
        None
    }
}

impl<F: Fn(&Event) + Send + Sync + 'static> Sink for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// The installed sinks, and whether any of them wants entry events or context snapshots.
#[derive(Default)]
pub(crate) struct SinkList {
    pub(crate) sinks: Vec<Arc<dyn Sink>>,
    pub(crate) wants_enters: bool,
    /// Some sink wants entry events that carry no fields.
    pub(crate) wants_bare_enters: bool,
    pub(crate) wants_context: bool,
    pub(crate) wants_polls: bool,
    /// Some sink wants the events of unsampled calls.
    pub(crate) wants_unsampled: bool,
    /// Every sink does.
    pub(crate) all_want_unsampled: bool,
    /// Every sink, when all of them are [`Stats`](super::Stats) sinks; empty otherwise. Exits
    /// then go straight to them ([`record`](super::Stats::record)) with no event built.
    pub(crate) only_stats: Vec<super::Stats>,
    /// Every sink, when all of them can be reached directly and not all are `Stats` (some are
    /// OTLP sinks); empty otherwise. Exits then go straight to them with no event built.
    pub(crate) direct: Vec<Direct>,
    /// This list is the `KEEL_TRACE` fallback ([`Stderr`](super::Stderr)), in force until the
    /// first [`add_sink`], which replaces it.
    fallback: bool,
}

static EMPTY: SinkList = SinkList {
    sinks: Vec::new(),
    wants_enters: false,
    wants_bare_enters: false,
    wants_context: false,
    wants_polls: false,
    wants_unsampled: false,
    all_want_unsampled: true,
    only_stats: Vec::new(),
    direct: Vec::new(),
    fallback: false,
};

impl SinkList {
    /// The sinks that want the events of unsampled calls.
    pub(crate) fn unsampled_sinks(&self) -> impl Iterator<Item = &Arc<dyn Sink>> {
        self.sinks.iter().filter(|sink| sink.wants_unsampled())
    }
}

/// The published list: null (no sink) or a leaked `Box<SinkList>` that is never freed, so readers
/// need no lock and no reference count. Each change leaks the previous list (sinks are installed
/// at start-up, a handful of times per process).
static PUBLISHED: AtomicPtr<SinkList> = AtomicPtr::new(core::ptr::null_mut());

/// Serialises writers.
static WRITERS: Mutex<()> = Mutex::new(());

/// The installed sinks, in installation order.
#[inline]
pub(crate) fn current() -> &'static SinkList {
    let list = PUBLISHED.load(Ordering::Acquire);
    if list.is_null() {
        return &EMPTY;
    }
    // SAFETY: a non-null pointer in PUBLISHED always comes from `Box::leak` in `publish`, is never
    // freed nor written through, and was published with Release (paired with the Acquire above),
    // so it is valid, initialised and immutable for 'static.
    unsafe { &*list }
}

pub(crate) fn is_empty() -> bool {
    current().sinks.is_empty()
}

fn publish(sinks: Vec<Arc<dyn Sink>>, fallback: bool) {
    let wants_enters = sinks.iter().any(|sink| sink.wants_enters());
    let wants_bare_enters = sinks
        .iter()
        .any(|sink| sink.wants_enters() && sink.wants_enters_without_fields());
    let wants_context = sinks.iter().any(|sink| sink.wants_context());
    let wants_polls = sinks.iter().any(|sink| sink.wants_polls());
    let wants_unsampled = sinks.iter().any(|sink| sink.wants_unsampled());
    let all_want_unsampled = sinks.iter().all(|sink| sink.wants_unsampled());
    let direct: Vec<Direct> = sinks
        .iter()
        .filter_map(|sink| Direct::of(&**sink))
        .collect();
    let all_direct = direct.len() == sinks.len();
    let stats: Vec<super::Stats> = sinks
        .iter()
        .filter_map(|sink| sink.as_stats().cloned())
        .collect();
    let all_stats = stats.len() == sinks.len();
    let only_stats = if all_stats { stats } else { Vec::new() };
    let direct = if all_direct && !all_stats {
        direct
    } else {
        Vec::new()
    };
    let list = SinkList {
        sinks,
        wants_enters,
        wants_bare_enters,
        wants_context,
        wants_polls,
        wants_unsampled,
        all_want_unsampled,
        only_stats,
        direct,
        fallback,
    };
    let leaked: &'static mut SinkList = Box::leak(Box::new(list));
    PUBLISHED.store(leaked, Ordering::Release);
}

/// Makes `sink` the one sink while no sink has been added (what `KEEL_TRACE` does with
/// [`Stderr`](super::Stderr)); the first [`add_sink`] replaces it. Does nothing if a sink is
/// installed already.
pub(crate) fn set_fallback(sink: impl Sink) {
    let _writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    if is_empty() {
        publish(vec![Arc::new(sink)], true);
    }
}

/// Adds a sink; it sees events from now on, after the sinks added before it.
///
/// The first sink added replaces the [`Stderr`](super::Stderr) output that `KEEL_TRACE` turns on
/// by itself, whenever it is added: with `KEEL_TRACE` set, a program that installs
/// [`Stats`](super::Stats) gets statistics, not statistics and stderr lines.
///
/// ```
/// keel_runtime::trace::add_sink(keel_runtime::trace::Stats::new());
/// ```
pub fn add_sink(sink: impl Sink) {
    let _writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    let list = current();
    let mut sinks = if list.fallback {
        Vec::new()
    } else {
        list.sinks.clone()
    };
    if let Some(stats) = sink.as_stats() {
        stats.mark_added();
    }
    sinks.push(Arc::new(sink));
    publish(sinks, false);
}

/// Removes every sink (captures keep working).
///
/// ```
/// keel_runtime::trace::clear_sinks();
/// ```
pub fn clear_sinks() {
    let _writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    if !is_empty() {
        publish(Vec::new(), false);
    }
}
