//! `Stderr`: prints every event, like the Python original's `print('enter parse')`.

use super::event::Event;
use super::sink::Sink;
use std::io::Write;

/// A [`Sink`] that writes one line per event to standard error:
/// `enter myapp::parse(input="1+2")` and `exit  myapp::parse 1.2µs ok`.
///
/// ```
/// keel_runtime::trace::add_sink(keel_runtime::trace::Stderr::new());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr {
    enters_only: bool,
}

impl Stderr {
    /// Prints entries and exits.
    pub const fn new() -> Self {
        Self { enters_only: false }
    }

    /// Prints entries only: exactly what the Python original prints.
    ///
    /// ```
    /// keel_runtime::trace::add_sink(keel_runtime::trace::Stderr::enters_only());
    /// ```
    pub const fn enters_only() -> Self {
        Self { enters_only: true }
    }
}

impl Sink for Stderr {
    fn event(&self, event: &Event) {
        if self.enters_only && !event.is_enter() {
            return;
        }
        // A closed stderr is not the traced program's problem.
        let _ = writeln!(std::io::stderr().lock(), "{event}");
    }
}
