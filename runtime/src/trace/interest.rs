//! `Interest`: what a sink wants to receive, declared once, when it is added.

/// What a [`Sink`](super::Sink) wants to receive: returned by
/// [`Sink::interest`](super::Sink::interest), read once by [`add_sink`](super::add_sink) and kept
/// with the sink, so that calls skip whatever no installed sink wants (building entry events,
/// taking context snapshots, reporting polls, emitting unsampled calls).
///
/// [`Interest::new`] (the default) is what a sink that says nothing gets: entry events, with or
/// without fields, the context snapshot, and unsampled calls; no polls. Each method turns one
/// part on or off.
///
/// ```
/// use keel_runtime::trace::{self, Event, Interest, Sink};
///
/// /// Counts failures: needs exits only, no context snapshot.
/// struct Failures(std::sync::atomic::AtomicU64);
/// impl Sink for Failures {
///     fn event(&self, event: &Event) {
///         if event.outcome().is_some_and(|outcome| !outcome.is_ok()) {
///             self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         }
///     }
///     fn interest(&self) -> Interest {
///         Interest::new().enters(false).context(false)
///     }
/// }
///
/// let interest = Failures(Default::default()).interest();
/// assert!(!interest.wants_enters() && !interest.wants_context());
/// assert!(interest.wants_unsampled() && !interest.wants_polls());
/// assert_eq!(Interest::default(), Interest::new());
/// trace::add_sink(Failures(Default::default()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interest {
    enters: bool,
    enters_without_fields: bool,
    context: bool,
    polls: bool,
    unsampled: bool,
}

impl Interest {
    /// What a sink gets unless it says otherwise: entry events (those without fields too),
    /// the context snapshot and unsampled calls, but not polls.
    ///
    /// ```
    /// let all = keel_runtime::trace::Interest::new();
    /// assert!(all.wants_enters() && all.wants_enters_without_fields() && all.wants_context());
    /// assert!(all.wants_unsampled() && !all.wants_polls());
    /// ```
    pub const fn new() -> Self {
        Self {
            enters: true,
            enters_without_fields: true,
            context: true,
            polls: false,
            unsampled: true,
        }
    }

    /// Nothing but the exits of sampled calls: what the union of no sinks wants.
    pub(crate) const fn none() -> Self {
        Self {
            enters: false,
            enters_without_fields: false,
            context: false,
            polls: false,
            unsampled: false,
        }
    }

    /// Whether the sink wants entry events. A sink that only looks at exits (such as
    /// [`Stats`](super::Stats)) says `false`, and calls then skip building entry events when no
    /// other sink or capture wants them.
    ///
    /// ```
    /// use keel_runtime::trace::Interest;
    /// assert!(!Interest::new().enters(false).wants_enters());
    /// ```
    #[must_use]
    pub const fn enters(mut self, wanted: bool) -> Self {
        self.enters = wanted;
        self
    }

    /// Whether the sink wants the entry events that carry no fields (calls recording no
    /// arguments), when it wants entry events at all. A sink that reads entries only for their
    /// fields (the OTLP sink, which sends them as the span's attributes) says `false`, and such
    /// calls then skip building their entry event when no other sink or capture wants it.
    ///
    /// ```
    /// use keel_runtime::trace::Interest;
    /// let fields_only = Interest::new().enters_without_fields(false);
    /// assert!(fields_only.wants_enters() && !fields_only.wants_enters_without_fields());
    /// ```
    #[must_use]
    pub const fn enters_without_fields(mut self, wanted: bool) -> Self {
        self.enters_without_fields = wanted;
        self
    }

    /// Whether the sink reads [`Event::context`](super::Event::context). A sink that does not
    /// (such as [`Stats`](super::Stats)) says `false`, and events then skip the context snapshot
    /// when no other sink or capture wants it.
    ///
    /// ```
    /// use keel_runtime::trace::Interest;
    /// assert!(!Interest::new().context(false).wants_context());
    /// ```
    #[must_use]
    pub const fn context(mut self, wanted: bool) -> Self {
        self.context = wanted;
        self
    }

    /// Whether the sink wants [`Sink::resume`](super::Sink::resume) and
    /// [`Sink::suspend`](super::Sink::suspend), the polls of calls that suspend (`async fn`s,
    /// [`Span::scope`](super::Span::scope)). Off by default, so that polls cost nothing for
    /// sinks that only count and time calls.
    ///
    /// ```
    /// use keel_runtime::trace::Interest;
    /// assert!(Interest::new().polls(true).wants_polls());
    /// ```
    #[must_use]
    pub const fn polls(mut self, wanted: bool) -> Self {
        self.polls = wanted;
        self
    }

    /// Whether the sink wants the events of unsampled calls (see
    /// [`set_sampler`](super::set_sampler)). `true` by default, for sinks that count or print
    /// every call; a sink that exports spans (the OTLP sink) says `false` and then sees only
    /// sampled calls, and an unsampled call emits nothing when only such sinks listen.
    ///
    /// ```
    /// use keel_runtime::trace::Interest;
    /// assert!(!Interest::new().unsampled(false).wants_unsampled());
    /// ```
    #[must_use]
    pub const fn unsampled(mut self, wanted: bool) -> Self {
        self.unsampled = wanted;
        self
    }

    /// See [`enters`](Self::enters).
    pub const fn wants_enters(self) -> bool {
        self.enters
    }

    /// See [`enters_without_fields`](Self::enters_without_fields). `true` does not mean the sink
    /// gets entry events: only if it [wants them](Self::wants_enters) at all.
    pub const fn wants_enters_without_fields(self) -> bool {
        self.enters_without_fields
    }

    /// See [`context`](Self::context).
    pub const fn wants_context(self) -> bool {
        self.context
    }

    /// See [`polls`](Self::polls).
    pub const fn wants_polls(self) -> bool {
        self.polls
    }

    /// See [`unsampled`](Self::unsampled).
    pub const fn wants_unsampled(self) -> bool {
        self.unsampled
    }

    /// What two sinks want together: each part that either wants. An entry without fields is
    /// wanted only by a sink that wants entries at all.
    pub(crate) const fn union(self, other: Self) -> Self {
        Self {
            enters: self.enters || other.enters,
            enters_without_fields: (self.enters && self.enters_without_fields)
                || (other.enters && other.enters_without_fields),
            context: self.context || other.context,
            polls: self.polls || other.polls,
            unsampled: self.unsampled || other.unsampled,
        }
    }
}

impl Default for Interest {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Interest;

    #[test]
    fn union_wants_what_either_wants_and_bare_enters_only_with_enters() {
        let stats = Interest::new().enters(false).context(false);
        let otlp = Interest::new()
            .context(false)
            .enters_without_fields(false)
            .unsampled(false);
        let both = stats.union(otlp);
        assert!(both.wants_enters() && !both.wants_context() && both.wants_unsampled());
        // `stats` says yes to bare entries but wants no entries: it does not count.
        assert!(!both.wants_enters_without_fields());
        assert_eq!(Interest::none().union(Interest::new()), Interest::new());
        let bridge = Interest::new().polls(true);
        assert!(Interest::none().union(bridge).wants_polls());
        assert_eq!(Interest::none().union(Interest::none()), Interest::none());
    }
}
