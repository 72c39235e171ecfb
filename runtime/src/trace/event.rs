//! `Event`: one function entry or exit, as sinks and captures see it.

use super::call_site::CallSite;
use super::id::{SpanId, TraceId, TraceKey};
use crate::call::CurrentCall;
use crate::context::Context;
use core::fmt;
use core::time::Duration;
use std::sync::OnceLock;

/// How a traced call ended.
///
/// ```
/// use keel_runtime::trace::Outcome;
/// assert_eq!(Outcome::Err("no such row".into()).to_string(), "err: no such row");
/// assert!(Outcome::Ok.is_ok() && !Outcome::Panicked.is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned normally (and not an `Err`).
    Ok,
    /// Returned `Err(e)`; the text is `e`'s `Display` form (its `Debug` form if it has no
    /// `Display`, or what [`Span::finish`](super::Span::finish) was given).
    Err(String),
    /// Unwound by a panic.
    Panicked,
    /// An `async fn`'s future (or a [`Span`](super::Span)) dropped before it completed.
    Cancelled,
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// The error text of an [`Outcome::Err`].
    ///
    /// ```
    /// use keel_runtime::trace::Outcome;
    /// assert_eq!(Outcome::Err("boom".into()).error(), Some("boom"));
    /// assert_eq!(Outcome::Ok.error(), None);
    /// ```
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Err(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Err(text) => write!(f, "err: {text}"),
            Self::Panicked => f.write_str("panicked"),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Whether an [`Event`] is an entry or an exit (with its duration and outcome).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The function was entered (an `async fn`: its future was first polled).
    Enter,
    /// The function returned, failed, panicked or was cancelled.
    Exit {
        /// Time from entry to exit (for an `async fn`, including time spent suspended).
        elapsed: Duration,
        /// How it ended.
        outcome: Outcome,
    },
}

/// One entry into or exit from a traced function.
///
/// (Not [`audit::Event`](crate::audit::Event), an audited operation that hooks may refuse;
/// write them module-qualified, `trace::Event` and `audit::Event`, where both are in use.)
///
/// Events reach sinks by reference and captures by value. The entry carries the arguments named
/// with `#[keel::instrument(args(..))]` as fields, the exit the return value recorded with `ret`
/// (field `"return"`). Both events of one call share a [`call_id`](Event::call_id).
///
/// ```
/// use keel_runtime::trace::{self, CallSite, Span};
/// static SITE: CallSite = CallSite::new("doc::event::demo", "doc::event", "demo.rs", 1);
/// trace::enable();
/// let (_, events) = trace::capture(|| Span::enter(&SITE).finish(trace::Outcome::Ok));
/// let (enter, exit) = (&events[0], &events[1]);
/// assert!(enter.is_enter() && exit.is_exit());
/// assert_eq!(enter.name(), "doc::event::demo");
/// assert_eq!(enter.call_id(), exit.call_id());
/// assert!(enter.elapsed().is_none() && exit.elapsed().is_some());
/// assert_eq!(enter.to_string(), "enter doc::event::demo");
/// assert!(exit.to_string().starts_with("exit  doc::event::demo "));
/// ```
#[derive(Clone, Debug)]
pub struct Event {
    kind: EventKind,
    call_site: &'static CallSite,
    call_id: u64,
    /// The trace the call belongs to and its flags.
    trace: TraceKey,
    /// The call that was current when this one started (on its thread, or where the context
    /// it runs in was taken).
    parent: Option<CurrentCall>,
    /// The recorded values, typed as they were recorded.
    values: Vec<(&'static str, Value)>,
    /// Their `Debug` texts, made when first asked for.
    texts: OnceLock<Vec<(&'static str, String)>>,
    context: Option<Context>,
    /// Raw clock reading at the call's exit (0 when not known: entries, and exits built
    /// without one), so that a sink needing the end time does not read the clock again.
    end_raw: u64,
}

impl Event {
    /// The only constructor: every event is built here, on the thread that emits it.
    pub(crate) fn new(
        kind: EventKind,
        call_site: &'static CallSite,
        call_id: u64,
        trace: TraceKey,
        parent: Option<CurrentCall>,
        values: Vec<(&'static str, Value)>,
    ) -> Self {
        Self {
            kind,
            call_site,
            call_id,
            trace,
            parent,
            values,
            texts: OnceLock::new(),
            context: None,
            end_raw: 0,
        }
    }

    /// Records the raw clock reading taken at the call's exit.
    #[inline]
    pub(crate) fn with_end_raw(mut self, end_raw: u64) -> Self {
        self.end_raw = end_raw;
        self
    }

    /// The raw clock reading at the call's exit, if the exit recorded one.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    #[inline]
    pub(crate) fn end_raw(&self) -> Option<u64> {
        (self.end_raw != 0).then_some(self.end_raw)
    }

    /// Attaches the emitting thread's context snapshot (done by the dispatcher when a sink or a
    /// capture wants it).
    pub(crate) fn set_context(&mut self, context: Context) {
        self.context = Some(context);
    }

    /// The function's qualified name, `crate::module::Type::method`.
    pub fn name(&self) -> &'static str {
        self.call_site.name()
    }

    /// The function's static description.
    pub fn call_site(&self) -> &'static CallSite {
        self.call_site
    }

    /// Entry or exit.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// True for an entry.
    pub fn is_enter(&self) -> bool {
        matches!(self.kind, EventKind::Enter)
    }

    /// True for an exit.
    pub fn is_exit(&self) -> bool {
        matches!(self.kind, EventKind::Exit { .. })
    }

    /// How long the call took (exits only).
    pub fn elapsed(&self) -> Option<Duration> {
        match &self.kind {
            EventKind::Exit { elapsed, .. } => Some(*elapsed),
            EventKind::Enter => None,
        }
    }

    /// How the call ended (exits only).
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.kind {
            EventKind::Exit { outcome, .. } => Some(outcome),
            EventKind::Enter => None,
        }
    }

    /// A number shared by the entry and exit of one call, unique in the process.
    pub fn call_id(&self) -> u64 {
        self.call_id
    }

    /// The parent call: the one current when this call started. Both events of a call carry
    /// it. (Crate-private; the public form is [`Event::parent_id`].)
    pub(crate) fn parent_call(&self) -> Option<CurrentCall> {
        self.parent
    }

    /// The trace this call belongs to: its parent's, or a new one when it has no parent.
    /// `Display` is 32 lowercase hex digits, as in a `traceparent` header.
    ///
    /// ```
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static OUTER: CallSite = CallSite::new("doc::ids::outer", "doc::ids", "ids.rs", 1);
    /// static INNER: CallSite = CallSite::new("doc::ids::inner", "doc::ids", "ids.rs", 2);
    /// trace::enable();
    /// let (_, events) = trace::capture(|| {
    ///     let outer = Span::enter(&OUTER);
    ///     Span::enter(&INNER).finish(Outcome::Ok);
    ///     outer.finish(Outcome::Ok);
    /// });
    /// let (outer, inner) = (&events[0], &events[1]);
    /// assert_eq!(inner.trace_id(), outer.trace_id());
    /// assert_eq!(inner.parent_id(), Some(outer.span_id()));
    /// assert_eq!(outer.parent_id(), None, "a root");
    /// assert_eq!(outer.trace_id().to_string().len(), 32);
    /// assert_eq!(outer.span_id().to_string().len(), 16);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace.trace_id()
    }

    /// This call's span id, shared by its entry and exit; `Display` is 16 lowercase hex digits.
    pub fn span_id(&self) -> SpanId {
        SpanId::of_call(self.call_id)
    }

    /// The parent's span id: the call current when this one started (on this thread or task,
    /// where the context it runs in was taken, or the remote span of a
    /// [`TraceParent::run`](super::TraceParent::run)); `None` for a trace's root.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent.map(|parent| SpanId::of_call(parent.call_id))
    }

    /// The parent's name when the parent is a call of this process (`None` for a root or a
    /// remote parent).
    pub fn parent_name(&self) -> Option<&'static str> {
        self.parent
            .filter(|parent| !core::ptr::eq(parent.site, &super::traceparent::REMOTE))
            .map(|parent| parent.site.name())
    }

    /// The trace key as the current-call slot holds it (for the exporter).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn trace_key(&self) -> TraceKey {
        self.trace
    }

    /// Whether the call's trace is sampled (see [`set_sampler`](super::set_sampler)).
    pub fn is_sampled(&self) -> bool {
        self.trace.is_sampled()
    }

    /// The W3C trace flags of the call's trace (`0x01`: sampled).
    pub fn trace_flags(&self) -> u8 {
        self.trace.flags()
    }

    /// Recorded values: arguments (on entry, in `Debug` form) and `"return"` (on exit).
    pub fn fields(&self) -> &[(&'static str, String)] {
        self.texts.get_or_init(|| {
            self.values
                .iter()
                .map(|(name, value)| (*name, value.to_string()))
                .collect()
        })
    }

    /// The recorded values as they were recorded (typed where the type was known).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn values(&self) -> &[(&'static str, Value)] {
        &self.values
    }

    /// The [`keel::context`](crate::context) in force on the thread that emitted the event
    /// (an O(1) snapshot), so a request id set in one thread is seen in the work it hands off.
    ///
    /// `None` when nobody asked for it: the snapshot is taken only while a capture is active on
    /// the thread or an installed sink's [`Interest`](super::Interest) wants it (the default;
    /// [`Stats`](super::Stats) says no, to stay cheap).
    ///
    /// ```
    /// use keel_runtime::context::ContextVar;
    /// use keel_runtime::trace::{self, CallSite, Outcome, Span};
    /// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
    /// static SITE: CallSite = CallSite::new("doc::ctx::handle", "doc::ctx", "ctx.rs", 1);
    /// trace::enable();
    /// let _token = REQUEST_ID.set(42);
    /// let (_, events) = trace::capture(|| Span::enter(&SITE).finish(Outcome::Ok));
    /// assert_eq!(events[0].context().and_then(|c| c.get(&REQUEST_ID)), Some(42));
    /// ```
    pub fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }

    /// The recorded value called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields()
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for Event {
    /// `enter name(arg=value, ..)` or `exit  name 1.2µs ok` (`-> value` when recorded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Enter => {
                write!(f, "enter {}", self.name())?;
                if !self.values.is_empty() {
                    f.write_str("(")?;
                    for (i, (key, value)) in self.values.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{key}={value}")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            EventKind::Exit { elapsed, outcome } => {
                write!(f, "exit  {} {elapsed:?} {outcome}", self.name())?;
                if let Some(value) = self.field("return") {
                    write!(f, " -> {value}")?;
                }
                Ok(())
            }
        }
    }
}

/// A recorded value as an event keeps it: typed when the recording code knew the type (see
/// [`FieldValue`]), else its `Debug` text. Prints (`Display`) exactly the `Debug` text of the
/// value it was made from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    /// A string, as is (its `Debug` text is quoted and escaped).
    Str(String),
    /// Any other value's `Debug` text.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I64(int) => fmt::Debug::fmt(int, f),
            Value::U64(int) => fmt::Debug::fmt(int, f),
            Value::F64(float) => fmt::Debug::fmt(float, f),
            Value::Bool(flag) => fmt::Debug::fmt(flag, f),
            Value::Str(text) => fmt::Debug::fmt(text.as_str(), f),
            Value::Text(text) => f.write_str(text),
        }
    }
}

/// A field's value, typed: what an instrumented call records for an argument named with
/// `#[keel::instrument(args(..))]` or its return value (`ret`), and what
/// [`Span::enter_with_values`](super::Span::enter_with_values) takes. Integers, `f64`, `bool`
/// and strings are kept as they are, so that a sink needing the value (the OTLP exporter's
/// `int_value`, `string_value`, ..) gets it without parsing text back; any other type is kept
/// as `&dyn Debug`. Generated code picks the variant from the argument's type at compile time.
/// Its `Debug` prints exactly what the value's own `Debug` prints, and so does an [`Event`]'s
/// field.
///
/// ```
/// use keel_runtime::trace::{self, CallSite, FieldValue, Outcome, Span};
/// static SITE: CallSite = CallSite::new("doc::fields::load", "doc::fields", "f.rs", 1);
/// let owner = Some("ops");
/// let fields = [
///     ("id", FieldValue::from(7u64)),
///     ("path", FieldValue::from("/orders/7")),
///     ("owner", FieldValue::Debug(&owner)),
/// ];
/// assert_eq!(format!("{:?}", fields[1].1), r#""/orders/7""#);
/// trace::enable();
/// let (_, events) = trace::capture(|| Span::enter_with_values(&SITE, &fields).finish(Outcome::Ok));
/// assert_eq!(events[0].to_string(), r#"enter doc::fields::load(id=7, path="/orders/7", owner=Some("ops"))"#);
/// ```
#[derive(Clone, Copy)]
pub enum FieldValue<'a> {
    /// A signed integer (`i8` .. `i64`, `isize`).
    I64(i64),
    /// An unsigned integer (`u8` .. `u64`, `usize`); OTLP sends one above `i64::MAX` as the
    /// string of its digits.
    U64(u64),
    /// A float.
    F64(f64),
    /// A `bool`.
    Bool(bool),
    /// A string, as is (not quoted).
    Str(&'a str),
    /// Any other value: its `Debug` text is made only when a sink asks for it.
    Debug(&'a dyn fmt::Debug),
}

macro_rules! field_value_from {
    ($variant:ident as $wide:ty: $($ty:ty),*) => {$(
        impl From<$ty> for FieldValue<'_> {
            #[inline]
            fn from(value: $ty) -> Self {
                FieldValue::$variant(<$wide>::from(value))
            }
        }
    )*};
}

field_value_from!(I64 as i64: i8, i16, i32, i64);
field_value_from!(U64 as u64: u8, u16, u32, u64);
field_value_from!(F64 as f64: f64);
field_value_from!(Bool as bool: bool);

impl From<isize> for FieldValue<'_> {
    #[inline]
    fn from(value: isize) -> Self {
        FieldValue::I64(value as i64)
    }
}

impl From<usize> for FieldValue<'_> {
    #[inline]
    fn from(value: usize) -> Self {
        FieldValue::U64(value as u64)
    }
}

impl<'a> From<&'a str> for FieldValue<'a> {
    #[inline]
    fn from(value: &'a str) -> Self {
        FieldValue::Str(value)
    }
}

impl<'a> From<&'a String> for FieldValue<'a> {
    #[inline]
    fn from(value: &'a String) -> Self {
        FieldValue::Str(value)
    }
}

impl fmt::Debug for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::I64(int) => fmt::Debug::fmt(int, f),
            FieldValue::U64(int) => fmt::Debug::fmt(int, f),
            FieldValue::F64(float) => fmt::Debug::fmt(float, f),
            FieldValue::Bool(flag) => fmt::Debug::fmt(flag, f),
            FieldValue::Str(text) => fmt::Debug::fmt(*text, f),
            FieldValue::Debug(value) => fmt::Debug::fmt(*value, f),
        }
    }
}

impl FieldValue<'_> {
    /// The value as an event keeps it (a string copied, any other type formatted).
    pub(crate) fn to_value(self) -> Value {
        match self {
            FieldValue::I64(int) => Value::I64(int),
            FieldValue::U64(int) => Value::U64(int),
            FieldValue::F64(float) => Value::F64(float),
            FieldValue::Bool(flag) => Value::Bool(flag),
            FieldValue::Str(text) => Value::Str(text.to_owned()),
            FieldValue::Debug(value) => Value::Text(format!("{value:?}")),
        }
    }
}

/// The argument generated code wraps a recorded value in, to choose its [`FieldValue`] by
/// autoref specialisation: `Field(&value).__keel_value(&value as &dyn Debug)` finds
/// [`FieldTyped`]'s by-value method when the type has one (integers, `f64`, `bool`, `str`,
/// `&str`, `String`, and a reference to any of these), and [`FieldDebug`]'s by-reference one otherwise, which keeps the
/// `&dyn Debug` (made at the call site, so that a type without `Debug` is reported there as
/// before). Not a public API.
#[doc(hidden)]
pub struct Field<'a, T: ?Sized>(pub &'a T);

/// The typed choice of [`Field`]. Not a public API.
#[doc(hidden)]
pub trait FieldTyped<'a> {
    fn __keel_value(self, debug: &'a dyn fmt::Debug) -> FieldValue<'a>;
}

/// The `Debug` fallback of [`Field`]. Not a public API.
#[doc(hidden)]
pub trait FieldDebug<'a> {
    fn __keel_value(&self, debug: &'a dyn fmt::Debug) -> FieldValue<'a>;
}

impl<'a, T: ?Sized> FieldDebug<'a> for Field<'a, T> {
    #[inline(always)]
    fn __keel_value(&self, debug: &'a dyn fmt::Debug) -> FieldValue<'a> {
        FieldValue::Debug(debug)
    }
}

/// The typed choice for each type [`FieldValue`] converts from, and for a reference to one (an
/// argument `id: &u64`).
macro_rules! typed_field {
    ($($ty:ty),*) => {$(
        impl<'a> FieldTyped<'a> for Field<'a, $ty> {
            #[inline(always)]
            fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
                FieldValue::from(*self.0)
            }
        }

        impl<'a, 'b: 'a> FieldTyped<'a> for Field<'a, &'b $ty> {
            #[inline(always)]
            fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
                FieldValue::from(**self.0)
            }
        }
    )*};
}

typed_field!(
    i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f64, bool
);

impl<'a, 'b: 'a> FieldTyped<'a> for Field<'a, &'b String> {
    #[inline(always)]
    fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
        FieldValue::Str(self.0)
    }
}

impl<'a> FieldTyped<'a> for Field<'a, str> {
    #[inline(always)]
    fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
        FieldValue::Str(self.0)
    }
}

impl<'a, 'b: 'a> FieldTyped<'a> for Field<'a, &'b str> {
    #[inline(always)]
    fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
        FieldValue::Str(self.0)
    }
}

impl<'a> FieldTyped<'a> for Field<'a, String> {
    #[inline(always)]
    fn __keel_value(self, _: &'a dyn fmt::Debug) -> FieldValue<'a> {
        FieldValue::Str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use super::{FieldDebug as _, FieldTyped as _};

    /// What generated code does with a recorded argument `value`.
    macro_rules! recorded {
        ($value:expr) => {{
            let value = &$value;
            Field(value)
                .__keel_value(value as &dyn fmt::Debug)
                .to_value()
        }};
    }

    #[test]
    fn standard_types_and_references_to_them_are_recorded_typed() {
        let (id, delta, owned, flag, ratio) = (7u64, -3i32, String::from("a\"b"), true, 0.5f64);
        assert_eq!(recorded!(id), Value::U64(7));
        assert_eq!(recorded!(&id), Value::U64(7));
        assert_eq!(recorded!(&delta), Value::I64(-3));
        assert_eq!(recorded!(&flag), Value::Bool(true));
        assert_eq!(recorded!(&ratio), Value::F64(0.5));
        assert_eq!(recorded!(owned), Value::Str("a\"b".into()));
        assert_eq!(recorded!(&owned), Value::Str("a\"b".into()));
        assert_eq!(recorded!(&usize::MAX), Value::U64(u64::MAX));
        assert_eq!(recorded!(owned.as_str()), Value::Str("a\"b".into()));
        // Anything else keeps its `Debug` text, references to it too.
        assert_eq!(recorded!(Some(1)), Value::Text("Some(1)".into()));
        assert_eq!(recorded!(&Some(1)), Value::Text("Some(1)".into()));
        assert_eq!(
            recorded!(&&id),
            Value::Text("7".into()),
            "one reference deep only"
        );
        assert_eq!(recorded!(1.5f32), Value::Text("1.5".into()));
    }

    #[test]
    fn field_values_convert_from_the_standard_types() {
        let name = String::from("n");
        let cases: [(FieldValue<'_>, Value); 7] = [
            (7u8.into(), Value::U64(7)),
            (usize::MAX.into(), Value::U64(u64::MAX)),
            ((-1isize).into(), Value::I64(-1)),
            (2.5f64.into(), Value::F64(2.5)),
            (false.into(), Value::Bool(false)),
            ("s".into(), Value::Str("s".into())),
            ((&name).into(), Value::Str("n".into())),
        ];
        for (value, expected) in cases {
            assert_eq!(value.to_value(), expected);
        }
    }
}
