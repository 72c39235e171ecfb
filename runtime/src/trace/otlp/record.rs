//! The 64-byte record a span travels as, from the traced thread's queue to the export thread,
//! and how it is built from an exit or an entry's fields.

use crate::trace::CallSite;
use crate::trace::dispatch::FinishedCall;
use crate::trace::event::{Event, FieldValue, Outcome, Value};
use crate::trace::id::TraceKey;
use crate::trace::traceparent::REMOTE;

/// One queued item, what the traced thread hands to the export thread: a finished call, or the
/// entry fields of a call (only entries that have some), joined to its exit by call id.
///
/// One cache line: the traced thread writes it into its queue's slot field by field, and the
/// export thread reads it from there, so each span moves one line between the two cores.
/// What is rare (an error message, recorded fields) is boxed.
#[repr(align(64))]
pub(super) struct Record {
    /// The function (`None`: an entry record).
    pub(super) site: Option<&'static CallSite>,
    pub(super) call_id: u64,
    /// The trace key's words (see [`TraceKey::to_parts`]).
    trace: [u64; 2],
    /// The parent's call id, 0 for none.
    pub(super) parent: u64,
    /// Raw clock reading at the exit.
    pub(super) end: u64,
    /// The elapsed nanoseconds (low [`ELAPSED_BITS`] bits, saturated) and, above them, the
    /// trace flags, the outcome and the [`REMOTE_PARENT`] and [`MIGRATED`] bits.
    packed: u64,
    /// The error message and the recorded fields, when there are any.
    pub(super) extra: Option<Box<Extra>>,
}

const _: () = assert!(core::mem::size_of::<Record>() == 64);

/// What few records carry.
#[derive(Default)]
pub(super) struct Extra {
    /// The `Err` outcome's text.
    pub(super) error: Option<String>,
    pub(super) fields: Fields,
}

/// Recorded fields (names and values, typed as recorded) packed end to end in one buffer: one
/// allocation for all of a call's fields, made on the traced thread and freed on the export
/// thread (each such free is dearer than a local one: it goes back to the traced thread's
/// arena).
///
/// Each field is its name's length (a LEB128 varint: one byte below 128), the name, a tag byte
/// (see [`Packed`]) and the value: 8 bytes for an integer or a float, 1 for a `bool`, a length
/// (a varint) and the bytes for a string or a `Debug` text.
///
/// Up to [`INLINE`] bytes (an integer and a short string) are kept in the struct itself, that is
/// in the record's [`Extra`] box: one allocation per record, not two.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fields {
    inline_len: u8,
    inline: [u8; INLINE],
    /// The packed fields when they are longer than [`INLINE`] bytes (else empty, unallocated).
    heap: Vec<u8>,
}

/// Packed fields up to this size live in [`Fields`] itself.
const INLINE: usize = 48;

/// Packed fields up to this size travel in an entry [`Record`] itself (five words, less the
/// length byte).
const IN_RECORD: usize = 39;

impl Default for Fields {
    fn default() -> Self {
        Fields {
            inline_len: 0,
            inline: [0; INLINE],
            heap: Vec::new(),
        }
    }
}

/// A field's value as packed, borrowed from the event or the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Packed<'a> {
    /// A `Debug` text of a type not known when recorded (sent as
    /// [`typed`](super::value::typed) reads it).
    Text(&'a str),
    /// A string, as is.
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Double(f64),
    Bool(bool),
}

const TEXT: u8 = 0;
const STR: u8 = 1;
const INT: u8 = 2;
const UINT: u8 = 3;
const DOUBLE: u8 = 4;
const BOOL: u8 = 5;

impl<'a> From<&'a Value> for Packed<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::I64(int) => Packed::Int(*int),
            Value::U64(int) => Packed::UInt(*int),
            Value::F64(float) => Packed::Double(*float),
            Value::Bool(flag) => Packed::Bool(*flag),
            Value::Str(text) => Packed::Str(text),
            Value::Text(text) => Packed::Text(text),
        }
    }
}

impl Packed<'_> {
    fn size(&self) -> usize {
        match self {
            Packed::Text(text) | Packed::Str(text) => 1 + varint_len(text.len()) + text.len(),
            Packed::Int(_) | Packed::UInt(_) | Packed::Double(_) => 9,
            Packed::Bool(_) => 2,
        }
    }
}

/// The bytes of `value` as a LEB128 varint.
fn varint_len(value: usize) -> usize {
    prost::encoding::encoded_len_varint(value as u64)
}

impl Fields {
    /// `fields` packed.
    pub(super) fn pack<'a>(fields: impl Iterator<Item = (&'a str, Packed<'a>)> + Clone) -> Self {
        let size = fields
            .clone()
            .map(|(name, value)| varint_len(name.len()) + name.len() + value.size())
            .sum();
        let mut buffer = Fields::default();
        if size > INLINE {
            buffer.heap = Vec::with_capacity(size);
        }
        for (name, value) in fields {
            buffer.put_varint(name.len());
            buffer.put(name.as_bytes());
            let text = |buffer: &mut Fields, tag: u8, text: &str| {
                buffer.put(&[tag]);
                buffer.put_varint(text.len());
                buffer.put(text.as_bytes());
            };
            match value {
                Packed::Text(value) => text(&mut buffer, TEXT, value),
                Packed::Str(value) => text(&mut buffer, STR, value),
                Packed::Int(int) => {
                    buffer.put(&[INT]);
                    buffer.put(&int.to_le_bytes());
                }
                Packed::UInt(int) => {
                    buffer.put(&[UINT]);
                    buffer.put(&int.to_le_bytes());
                }
                Packed::Double(float) => {
                    buffer.put(&[DOUBLE]);
                    buffer.put(&float.to_le_bytes());
                }
                Packed::Bool(flag) => buffer.put(&[BOOL, u8::from(flag)]),
            }
        }
        buffer
    }

    /// Appends `bytes` (within the size [`pack`](Self::pack) reserved).
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if self.heap.capacity() > 0 {
            self.heap.extend_from_slice(bytes);
        } else {
            let start = usize::from(self.inline_len);
            self.inline[start..start + bytes.len()].copy_from_slice(bytes);
            self.inline_len = (start + bytes.len()) as u8;
        }
    }

    /// The packed fields as the five words of an entry [`Record`] carries them in (the length,
    /// then the bytes, little-endian), when they fit in [`IN_RECORD`] bytes.
    #[inline(always)]
    fn to_words(&self) -> Option<[u64; 5]> {
        if self.heap.capacity() > 0 || usize::from(self.inline_len) > IN_RECORD {
            return None;
        }
        let mut bytes = [0u8; IN_RECORD + 1];
        bytes[0] = self.inline_len;
        bytes[1..].copy_from_slice(&self.inline[..IN_RECORD]);
        Some(core::array::from_fn(|word| {
            u64::from_le_bytes(core::array::from_fn(|byte| bytes[word * 8 + byte]))
        }))
    }

    /// The fields [`to_words`](Self::to_words) made `words` of.
    fn from_words(words: [u64; 5]) -> Self {
        let mut fields = Fields::default();
        for (word, value) in words.iter().enumerate() {
            let bytes = value.to_le_bytes();
            if word == 0 {
                fields.inline_len = bytes[0].min(IN_RECORD as u8);
                fields.inline[..7].copy_from_slice(&bytes[1..]);
            } else {
                fields.inline[word * 8 - 1..word * 8 + 7].copy_from_slice(&bytes);
            }
        }
        fields
    }

    /// Appends `value` as a LEB128 varint.
    #[inline(always)]
    fn put_varint(&mut self, value: usize) {
        if value < 0x80 {
            self.put(&[value as u8]);
            return;
        }
        let (bytes, len) = super::encode::varint_bytes(value as u64);
        self.put(&bytes[..len]);
    }

    fn bytes(&self) -> &[u8] {
        if self.heap.capacity() > 0 {
            &self.heap
        } else {
            &self.inline[..usize::from(self.inline_len)]
        }
    }

    /// `fields` as an instrumented call recorded them, packed: typed values copied as they
    /// are, any other value formatted (its `Debug` text).
    pub(super) fn pack_recorded(fields: &[(&'static str, FieldValue<'_>)]) -> Self {
        fn typed<'a>(value: &FieldValue<'a>) -> Option<Packed<'a>> {
            match *value {
                FieldValue::I64(int) => Some(Packed::Int(int)),
                FieldValue::U64(int) => Some(Packed::UInt(int)),
                FieldValue::F64(float) => Some(Packed::Double(float)),
                FieldValue::Bool(flag) => Some(Packed::Bool(flag)),
                FieldValue::Str(text) => Some(Packed::Str(text)),
                FieldValue::Debug(_) => None,
            }
        }
        if fields.iter().all(|(_, value)| typed(value).is_some()) {
            return Fields::pack(
                fields
                    .iter()
                    .filter_map(|(name, value)| typed(value).map(|packed| (*name, packed))),
            );
        }
        let values: Vec<(&str, Value)> = fields
            .iter()
            .map(|(name, value)| (*name, value.to_value()))
            .collect();
        Fields::pack(
            values
                .iter()
                .map(|(name, value)| (*name, Packed::from(value))),
        )
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The fields, in the order they were packed.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, Packed<'_>)> {
        let mut rest = self.bytes();
        core::iter::from_fn(move || {
            let (name, after) = take(rest)?;
            let (&tag, after) = after.split_first()?;
            // Packed whole from `str`s: always UTF-8.
            let name = core::str::from_utf8(name).unwrap_or("");
            let (value, after) = match tag {
                TEXT | STR => {
                    let (text, after) = take(after)?;
                    let text = core::str::from_utf8(text).unwrap_or("");
                    let value = if tag == TEXT {
                        Packed::Text(text)
                    } else {
                        Packed::Str(text)
                    };
                    (value, after)
                }
                INT => {
                    let (&word, after) = after.split_first_chunk::<8>()?;
                    (Packed::Int(i64::from_le_bytes(word)), after)
                }
                UINT => {
                    let (&word, after) = after.split_first_chunk::<8>()?;
                    (Packed::UInt(u64::from_le_bytes(word)), after)
                }
                DOUBLE => {
                    let (&word, after) = after.split_first_chunk::<8>()?;
                    (Packed::Double(f64::from_le_bytes(word)), after)
                }
                _ => {
                    let (&flag, after) = after.split_first()?;
                    (Packed::Bool(flag != 0), after)
                }
            };
            rest = after;
            Some((name, value))
        })
    }
}

/// The bytes after a LEB128 length at the start of `buffer`, and what follows them.
#[inline(always)]
fn take(buffer: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some((&length, rest)) = buffer.split_first()
        && length < 0x80
    {
        // One byte: the usual name or short string.
        return rest.split_at_checked(usize::from(length));
    }
    let mut length = 0usize;
    for (index, &byte) in buffer.iter().enumerate().take(10) {
        length |= usize::from(byte & 0x7f).checked_shl(7 * index as u32)?;
        if byte < 0x80 {
            return buffer[index + 1..].split_at_checked(length);
        }
    }
    None
}

/// Bits of [`Record::packed`] holding the elapsed time: 2^52 ns is 52 days, the longest
/// duration a span can report.
const ELAPSED_BITS: u32 = 52;
pub(super) const ELAPSED_MASK: u64 = (1 << ELAPSED_BITS) - 1;
/// The trace flags byte sits at this bit of [`Record::packed`].
const FLAGS_SHIFT: u32 = ELAPSED_BITS;
/// The outcome's two bits (see [`PackedOutcome`]).
const OUTCOME_SHIFT: u32 = FLAGS_SHIFT + 8;
/// The parent is in another process.
const REMOTE_PARENT: u64 = 1 << (OUTCOME_SHIFT + 2);
/// Entered on another thread (an async call that moved): its entry record, if any, is in that
/// thread's queue, which the export thread may read after this one.
const MIGRATED: u64 = 1 << (OUTCOME_SHIFT + 3);

/// A call's [`Outcome`] in the record's two bits, without the `Err` text (which travels in
/// [`Extra`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PackedOutcome {
    Ok = 0,
    Err = 1,
    Panicked = 2,
    Cancelled = 3,
}

impl Record {
    /// An entry record: the call's id and its recorded fields, nothing else. Fields packed in
    /// up to [`IN_RECORD`] bytes (an integer and a short string) travel in the words a span
    /// record uses for its trace, parent, end and packed bits, so such an entry allocates
    /// nothing; longer ones are boxed.
    #[inline(always)]
    fn entry(call_id: u64, fields: Fields) -> Self {
        match fields.to_words() {
            Some([trace0, trace1, parent, end, packed]) => Record {
                site: None,
                call_id,
                trace: [trace0, trace1],
                parent,
                end,
                packed,
                extra: None,
            },
            None => Record {
                site: None,
                call_id,
                trace: [0; 2],
                parent: 0,
                end: 0,
                packed: 0,
                extra: Some(Box::new(Extra {
                    error: None,
                    fields,
                })),
            },
        }
    }

    /// The fields of an entry record (see [`entry`](Self::entry)).
    pub(super) fn into_entry_fields(self) -> Fields {
        debug_assert!(!self.is_span());
        match self.extra {
            Some(extra) => extra.fields,
            None => Fields::from_words([
                self.trace[0],
                self.trace[1],
                self.parent,
                self.end,
                self.packed,
            ]),
        }
    }

    pub(super) fn is_span(&self) -> bool {
        self.site.is_some()
    }

    pub(super) fn trace(&self) -> TraceKey {
        TraceKey::from_parts(self.trace, (self.packed >> FLAGS_SHIFT) as u8)
    }

    pub(super) fn elapsed_nanos(&self) -> u64 {
        self.packed & ELAPSED_MASK
    }

    pub(super) fn outcome(&self) -> PackedOutcome {
        match (self.packed >> OUTCOME_SHIFT) & 3 {
            0 => PackedOutcome::Ok,
            1 => PackedOutcome::Err,
            2 => PackedOutcome::Panicked,
            _ => PackedOutcome::Cancelled,
        }
    }

    pub(super) fn remote_parent(&self) -> bool {
        self.packed & REMOTE_PARENT != 0
    }

    pub(super) fn migrated(&self) -> bool {
        self.packed & MIGRATED != 0
    }
}

/// What a record is built from. The record is built where it is stored (in the queue's slot),
/// so the traced thread never copies it, and not at all when the queue is full.
pub(super) enum RecordSource<'a> {
    Enter(&'a Event),
    /// An entry's fields straight from the instrumented call (see
    /// [`OtlpSink::record_entry`](super::OtlpSink::record_entry)).
    EnterFields {
        call_id: u64,
        fields: &'a [(&'static str, FieldValue<'a>)],
    },
    Exit(&'a FinishedCall<'a>),
}

impl RecordSource<'_> {
    pub(super) fn is_span(&self) -> bool {
        matches!(self, RecordSource::Exit(_))
    }

    #[inline(always)]
    pub(super) fn record(&self) -> Record {
        match self {
            RecordSource::Enter(event) => Record::entry(
                event.call_id(),
                Fields::pack(
                    event
                        .values()
                        .iter()
                        .map(|(name, value)| (*name, Packed::from(value))),
                ),
            ),
            RecordSource::EnterFields { call_id, fields } => {
                Record::entry(*call_id, Fields::pack_recorded(fields))
            }
            RecordSource::Exit(exit) => {
                let (trace, flags) = exit.trace.to_parts();
                let (outcome, error) = match exit.outcome {
                    Outcome::Ok => (PackedOutcome::Ok, None),
                    Outcome::Err(message) => (PackedOutcome::Err, Some(message.clone())),
                    Outcome::Panicked => (PackedOutcome::Panicked, None),
                    Outcome::Cancelled => (PackedOutcome::Cancelled, None),
                };
                let fields = exit
                    .value
                    .map(|value| Fields::pack(core::iter::once(("return", Packed::from(value)))))
                    .unwrap_or_default();
                let mut packed = exit.elapsed_nanos.min(ELAPSED_MASK)
                    | u64::from(flags) << FLAGS_SHIFT
                    | (outcome as u64) << OUTCOME_SHIFT;
                let parent = match exit.parent {
                    Some(parent) => {
                        if core::ptr::eq(parent.site, &REMOTE) {
                            packed |= REMOTE_PARENT;
                        }
                        parent.call_id
                    }
                    None => 0,
                };
                if !crate::trace::span::entered_on_this_thread(exit.call_id) {
                    packed |= MIGRATED;
                }
                Record {
                    site: Some(exit.site),
                    call_id: exit.call_id,
                    trace,
                    parent,
                    end: exit.end,
                    packed,
                    extra: (error.is_some() || !fields.is_empty())
                        .then(|| Box::new(Extra { error, fields })),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_fields_pack_typed_and_others_as_their_debug_text() {
        let path = String::from("/orders/\"7\"");
        let typed = [
            ("id", FieldValue::U64(u64::MAX)),
            ("delta", FieldValue::I64(-2)),
            ("path", FieldValue::Str(&path)),
            ("ratio", FieldValue::F64(0.5)),
            ("ok", FieldValue::Bool(true)),
        ];
        assert_eq!(
            Fields::pack_recorded(&typed).iter().collect::<Vec<_>>(),
            [
                ("id", Packed::UInt(u64::MAX)),
                ("delta", Packed::Int(-2)),
                ("path", Packed::Str("/orders/\"7\"")),
                ("ratio", Packed::Double(0.5)),
                ("ok", Packed::Bool(true)),
            ]
        );
        let some = Some(3);
        let mixed = [("n", FieldValue::I64(1)), ("opt", FieldValue::Debug(&some))];
        assert_eq!(
            Fields::pack_recorded(&mixed).iter().collect::<Vec<_>>(),
            [("n", Packed::Int(1)), ("opt", Packed::Text("Some(3)"))]
        );
        assert!(Fields::pack_recorded(&[]).is_empty());
    }

    #[test]
    fn short_entry_fields_travel_in_the_record_and_long_ones_boxed() {
        let short = [
            ("id", FieldValue::U64(7)),
            ("path", FieldValue::Str("/cart/12345")),
        ];
        // 1 + 2 + 1 + 8 and 1 + 4 + 1 + 1 + 11: 30 bytes, within the record's 39.
        let source = RecordSource::EnterFields {
            call_id: 9,
            fields: &short,
        };
        let record = source.record();
        assert!(record.extra.is_none(), "short fields: nothing allocated");
        assert!(!record.is_span());
        assert_eq!(record.call_id, 9);
        assert_eq!(
            record.into_entry_fields().iter().collect::<Vec<_>>(),
            [
                ("id", Packed::UInt(7)),
                ("path", Packed::Str("/cart/12345"))
            ]
        );

        // Exactly the record's 39 bytes (1 + 2 + 1 + 8 and 1 + 4 + 1 + 1 + 20), then one more.
        for (path, boxed) in [
            ("/cart/12345678901234", false),
            ("/cart/123456789012345", true),
        ] {
            let fields = [("id", FieldValue::U64(7)), ("path", FieldValue::Str(path))];
            let record = RecordSource::EnterFields {
                call_id: 10,
                fields: &fields,
            }
            .record();
            assert_eq!(record.extra.is_some(), boxed, "{path}");
            assert_eq!(
                record.into_entry_fields().iter().collect::<Vec<_>>(),
                [("id", Packed::UInt(7)), ("path", Packed::Str(path))]
            );
        }

        let long = "/a/path/longer/than/the/record/carries/inline/and/longer/than/inline";
        let fields = [
            ("path", FieldValue::Str(long)),
            ("ok", FieldValue::Bool(true)),
        ];
        let record = RecordSource::EnterFields {
            call_id: 11,
            fields: &fields,
        }
        .record();
        assert!(record.extra.is_some());
        assert_eq!(
            record.into_entry_fields().iter().collect::<Vec<_>>(),
            [("path", Packed::Str(long)), ("ok", Packed::Bool(true))]
        );

        // Lengths of one, two and three varint bytes, in names and values.
        let (name, medium, large) = ("n".repeat(130), "m".repeat(200), "l".repeat(20_000));
        let fields = [
            (name.as_str(), Packed::Text(&medium)),
            ("large", Packed::Str(&large)),
            ("", Packed::Str("")),
        ];
        assert_eq!(
            Fields::pack(fields.iter().copied())
                .iter()
                .collect::<Vec<_>>(),
            fields
        );
    }
}
