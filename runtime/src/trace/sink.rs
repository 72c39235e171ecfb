//! `Sink`: where events go, and the process-wide list of installed sinks with what each wants
//! and the path exits take to them.

use super::call_site::CallSite;
use super::event::Event;
use super::interest::Interest;
use super::stats::Stats;
use std::any::Any;
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

    /// What this sink wants to receive ([`Interest`]): read once, by [`add_sink`], and kept
    /// with the sink. The default is what the deprecated `wants_*` methods say (each of which
    /// defaults to [`Interest::new`]'s answer), so a sink written for them keeps working.
    ///
    /// ```
    /// use keel_runtime::trace::{Event, Interest, Sink};
    /// struct Arguments;
    /// impl Sink for Arguments {
    ///     fn event(&self, event: &Event) {
    ///         for (name, value) in event.fields() {
    ///             println!("{} {name}={value}", event.name());
    ///         }
    ///     }
    ///     fn interest(&self) -> Interest {
    ///         // Entries only for their fields; no context snapshot.
    ///         Interest::new().enters_without_fields(false).context(false)
    ///     }
    /// }
    /// keel_runtime::trace::add_sink(Arguments);
    /// ```
    #[allow(deprecated)]
    fn interest(&self) -> Interest {
        Interest::new()
            .enters(self.wants_enters())
            .enters_without_fields(self.wants_enters_without_fields())
            .context(self.wants_context())
            .polls(self.wants_polls())
            .unsampled(self.wants_unsampled())
    }

    /// Whether this sink wants entry events ([`Interest::enters`]).
    ///
    /// Read only by the default [`interest`](Self::interest); a sink that overrides `interest`
    /// (as keel's own do) ignores it.
    #[deprecated(note = "override `Sink::interest` and return `Interest::new().enters(..)`")]
    fn wants_enters(&self) -> bool {
        Interest::new().wants_enters()
    }

    /// Whether this sink wants the entry events that carry no fields
    /// ([`Interest::enters_without_fields`]).
    ///
    /// Read only by the default [`interest`](Self::interest); a sink that overrides `interest`
    /// (as keel's own do) ignores it.
    #[deprecated(
        note = "override `Sink::interest` and return `Interest::new().enters_without_fields(..)`"
    )]
    fn wants_enters_without_fields(&self) -> bool {
        Interest::new().wants_enters_without_fields()
    }

    /// Whether this sink reads [`Event::context`](super::Event::context)
    /// ([`Interest::context`]).
    ///
    /// Read only by the default [`interest`](Self::interest); a sink that overrides `interest`
    /// (as keel's own do) ignores it.
    #[deprecated(note = "override `Sink::interest` and return `Interest::new().context(..)`")]
    fn wants_context(&self) -> bool {
        Interest::new().wants_context()
    }

    /// Whether this sink wants [`resume`](Self::resume) and [`suspend`](Self::suspend)
    /// ([`Interest::polls`]).
    ///
    /// Read only by the default [`interest`](Self::interest); a sink that overrides `interest`
    /// (as keel's own do) ignores it.
    #[deprecated(note = "override `Sink::interest` and return `Interest::new().polls(..)`")]
    fn wants_polls(&self) -> bool {
        Interest::new().wants_polls()
    }

    /// A suspended call is about to run again on this thread: a new poll of its future begins.
    /// Called only on sinks whose [`interest`](Self::interest) wants
    /// [polls](Interest::polls).
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
    /// use keel_runtime::trace::{self, CallSite, Event, Interest, Sink};
    /// use std::sync::Mutex;
    ///
    /// #[derive(Default)]
    /// struct Polls(Mutex<Vec<String>>);
    /// impl Sink for Polls {
    ///     fn event(&self, event: &Event) {
    ///         let kind = if event.is_enter() { "enter" } else { "exit" };
    ///         self.0.lock().unwrap().push(format!("{kind} {}", event.name()));
    ///     }
    ///     fn interest(&self) -> Interest {
    ///         Interest::new().polls(true)
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

    /// Whether this sink wants the events of unsampled calls ([`Interest::unsampled`]).
    ///
    /// Read only by the default [`interest`](Self::interest); a sink that overrides `interest`
    /// (as keel's own do) ignores it.
    #[deprecated(note = "override `Sink::interest` and return `Interest::new().unsampled(..)`")]
    fn wants_unsampled(&self) -> bool {
        Interest::new().wants_unsampled()
    }
}

impl<F: Fn(&Event) + Send + Sync + 'static> Sink for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// One of keel's own sinks, which an exit reaches by a direct call, with no [`Event`] built.
/// Known by the sink's type when it is added.
#[derive(Clone)]
pub(crate) enum KeelSink {
    Stats(Stats),
    #[cfg(feature = "otlp")]
    Otlp(super::otlp::OtlpSink),
}

impl KeelSink {
    /// `sink` as one of keel's own sinks, if it is one.
    fn of<S: Sink>(sink: &S) -> Option<Self> {
        let sink: &dyn Any = sink;
        if let Some(stats) = sink.downcast_ref::<Stats>() {
            return Some(Self::Stats(stats.clone()));
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = sink.downcast_ref::<super::otlp::OtlpSink>() {
            return Some(Self::Otlp(otlp.clone()));
        }
        None
    }

    fn stats(&self) -> Option<Stats> {
        match self {
            Self::Stats(stats) => Some(stats.clone()),
            #[cfg(feature = "otlp")]
            Self::Otlp(_) => None,
        }
    }
}

/// An installed sink with what it declared when it was added.
#[derive(Clone)]
pub(crate) struct Installed {
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) interest: Interest,
    /// The sink as one of keel's own, if it is one.
    keel: Option<KeelSink>,
}

impl Installed {
    fn new<S: Sink>(sink: S) -> Self {
        Self {
            interest: sink.interest(),
            keel: KeelSink::of(&sink),
            sink: Arc::new(sink),
        }
    }
}

/// How an exit reaches the installed sinks, decided when the list is published from what each
/// sink is. Whatever the path, a call under a [`capture`](fn@super::capture) builds its event.
pub(crate) enum ExitPath {
    /// Every sink is a [`Stats`]: the exit records its timing into each, nothing else is built
    /// (the leanest path, which nothing else may slow down).
    StatsOnly(Vec<Stats>),
    /// Every sink is one of keel's own and some are not `Stats` (OTLP sinks): the exit reaches
    /// each by a direct call, no event built.
    KeelSinks(Vec<KeelSink>),
    /// Some sink reads [`Event`]s, or none is installed: the exit builds its event and
    /// [`emit`](super::dispatch::emit)s it.
    Events,
}

/// The installed sinks, what they want together, and the path of exits.
pub(crate) struct SinkList {
    pub(crate) sinks: Vec<Installed>,
    /// What the sinks want together ([`Interest::union`]).
    pub(crate) wants: Interest,
    /// Every sink wants the events of unsampled calls.
    pub(crate) all_want_unsampled: bool,
    pub(crate) exits: ExitPath,
    /// This list is the `KEEL_TRACE` fallback ([`Stderr`](super::Stderr)), in force until the
    /// first [`add_sink`], which replaces it.
    fallback: bool,
}

static EMPTY: SinkList = SinkList {
    sinks: Vec::new(),
    wants: Interest::none(),
    all_want_unsampled: true,
    exits: ExitPath::Events,
    fallback: false,
};

impl SinkList {
    fn new(sinks: Vec<Installed>, fallback: bool) -> Self {
        let wants = sinks
            .iter()
            .fold(Interest::none(), |wants, sink| wants.union(sink.interest));
        let all_want_unsampled = sinks.iter().all(|sink| sink.interest.wants_unsampled());
        let keel: Option<Vec<KeelSink>> = sinks.iter().map(|sink| sink.keel.clone()).collect();
        let exits = match keel {
            None => ExitPath::Events,
            Some(keel) if keel.is_empty() => ExitPath::Events,
            Some(keel) => {
                let stats: Vec<Stats> = keel.iter().filter_map(KeelSink::stats).collect();
                if stats.len() == keel.len() {
                    ExitPath::StatsOnly(stats)
                } else {
                    ExitPath::KeelSinks(keel)
                }
            }
        };
        Self {
            sinks,
            wants,
            all_want_unsampled,
            exits,
            fallback,
        }
    }

    /// The sinks that want the events of unsampled calls.
    pub(crate) fn unsampled_sinks(&self) -> impl Iterator<Item = &Installed> {
        self.sinks
            .iter()
            .filter(|sink| sink.interest.wants_unsampled())
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

fn publish(sinks: Vec<Installed>, fallback: bool) {
    let leaked: &'static mut SinkList = Box::leak(Box::new(SinkList::new(sinks, fallback)));
    PUBLISHED.store(leaked, Ordering::Release);
}

/// Makes `sink` the one sink while no sink has been added (what `KEEL_TRACE` does with
/// [`Stderr`](super::Stderr)); the first [`add_sink`] replaces it. Does nothing if a sink is
/// installed already.
pub(crate) fn set_fallback(sink: impl Sink) {
    let _writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    if is_empty() {
        publish(vec![Installed::new(sink)], true);
    }
}

/// Adds a sink; it sees events from now on, after the sinks added before it. Its
/// [`interest`](Sink::interest) is read now, once.
///
/// The first sink added replaces the [`Stderr`](super::Stderr) output that `KEEL_TRACE` turns on
/// by itself, whenever it is added: with `KEEL_TRACE` set, a program that installs
/// [`Stats`] gets statistics, not statistics and stderr lines.
///
/// ```
/// keel_runtime::trace::add_sink(keel_runtime::trace::Stats::new());
/// ```
pub fn add_sink(sink: impl Sink) {
    let _writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    let list = current();
    let mut sinks: Vec<Installed> = if list.fallback {
        Vec::new()
    } else {
        list.sinks.clone()
    };
    let installed = Installed::new(sink);
    if let Some(KeelSink::Stats(stats)) = &installed.keel {
        stats.mark_added();
    }
    sinks.push(installed);
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
