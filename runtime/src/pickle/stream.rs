//! The direct reader: a serde `Deserializer` that walks the opcode stream itself, with no
//! value tree in between, for the forms CPython's pickler and keel's writer use for the serde
//! data model: scalars, `EMPTY_LIST`/`EMPTY_DICT`/`EMPTY_SET` filled in `MARK` batches,
//! tuples where the type asks for one, a one-entry dict where it asks for an enum, and numpy's
//! `_frombuffer` reduction where it asks for an [`NdArray`](super::NdArray).
//!
//! The memo is lazy: a `PUT`/`MEMOIZE` only records *where* the memoized value starts (and
//! what it is); a `GET` re-reads the value from there. Nothing is built for values that are
//! never fetched again.
//!
//! Anything else (protocols 0–1, singleton `APPEND`/`SETITEM` outside an enum, sets and
//! bytes written through `REDUCE`, a `MARK` tuple the type did not ask for, any error at all)
//! makes this reader give up, and [`from_frames`](super::from_frames) reads the stream again
//! with the general machine of `reader.rs`, whose answer (value or error) is the one returned.
//! So this reader needs to be right only when it succeeds: every opcode it consumes plays the
//! role it has on the machine's stack, and it never consumes one it does not understand.

use serde::de::value::{
    BorrowedBytesDeserializer, BorrowedStrDeserializer, StrDeserializer, U32Deserializer,
};
use serde::de::{
    self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use super::MAX_DEPTH;
use super::de::big_int;
use super::numpy::{NDARRAY_TOKEN, hand_over};
use super::opcodes::*;
use super::value::Known;
use super::writer::{DTYPE_HEAD, DTYPE_LEN, DTYPE_MIDDLE, DTYPE_TAIL, FROMBUFFER_GLOBAL};
use crate::buffer::Buffer;

type Result<T> = core::result::Result<T, Miss>;

/// This reader's only error: "not a stream I read; ask the machine". One byte, so that every
/// `Result` here stays in registers.
#[derive(Debug)]
pub(crate) struct Miss;

impl core::fmt::Display for Miss {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("left to the general pickle machine")
    }
}

impl std::error::Error for Miss {}

impl de::Error for Miss {
    #[cold]
    fn custom<T: core::fmt::Display>(_: T) -> Self {
        Miss
    }
}

/// How far past the memo's current size a `PUT` may write (as in `reader.rs`).
const MEMO_SLACK: usize = 16;

/// How deep this reader nests (values, memo re-reads) before leaving the stream to the
/// machine, which allows [`MAX_DEPTH`]: each level here is a few serde frames on the stack.
const DEPTH: usize = if MAX_DEPTH < 64 { MAX_DEPTH } else { 64 };

/// How many look-aheads for a one-item batch may nest: each reads the item twice.
const LOOKAHEAD: u32 = 3;

#[cold]
fn miss() -> Miss {
    Miss
}

/// What a memo slot holds: where its value starts, and how to read it again from there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    /// A value [`Stream::any`] reads.
    Value,
    /// A tuple of this many items (`TUPLE1..3` after them, or `MARK ... TUPLE`).
    Tuple(u32),
    /// A known global.
    Global,
    /// A reduced and built `numpy.dtype`.
    Dtype,
    /// A `_frombuffer` array.
    Array,
}

#[derive(Clone, Copy)]
struct Entry {
    /// (Offsets are `u32`, so that the memo is small; a longer stream goes to the machine.)
    offset: u32,
    /// Where the value ended when it was memoized (before its memo opcodes): a tuple read
    /// again must end there too, or the `GET` was the first item of another tuple.
    end: u32,
    kind: Kind,
}

pub(crate) struct Stream<'de, 'b> {
    input: &'de [u8],
    pos: usize,
    memo: Vec<Entry>,
    memo_len: usize,
    /// Above 0 while re-reading a memoized value: its memo opcodes are not recorded again.
    replay: u32,
    buffers: &'b [Buffer],
    next_buffer: usize,
    budget: usize,
    depth: usize,
    /// Look-aheads running (see [`Stream::followed_by`]).
    lookahead: u32,
    /// Whether `keel::oob`'s decode scope is on (a `Buffer` then reads as its enum), and
    /// whether a `Buffer` asked for it while it was off.
    scoped: bool,
    wants_scope: bool,
}

impl<'de, 'b> Stream<'de, 'b> {
    pub(crate) fn new(input: &'de [u8], buffers: &'b [Buffer]) -> Self {
        Self {
            input,
            pos: 0,
            memo: Vec::new(),
            memo_len: 0,
            replay: 0,
            buffers,
            next_buffer: 0,
            budget: input.len().saturating_mul(64).saturating_add(1 << 16),
            depth: 0,
            lookahead: 0,
            scoped: false,
            wants_scope: false,
        }
    }

    /// Reads `T` from the whole stream: `PROTO`, the value, `STOP`, nothing after.
    ///
    /// Without `keel::oob`'s decode scope (`scoped` false), a `Buffer` in `T` (which then asks
    /// for `deserialize_byte_buf`) makes the read fail with `wants_scope` set: the caller
    /// reads again inside the scope. Most values (numpy arrays included) need none.
    pub(crate) fn read<T: de::Deserialize<'de>>(&mut self, scoped: bool) -> Result<T> {
        self.scoped = scoped;
        if self.peek()? == PROTO {
            self.pos += 1;
            if self.byte()? > HIGHEST_PROTOCOL {
                return Err(miss());
            }
        }
        let value = T::deserialize(&mut *self)?;
        if self.op()? != STOP || self.pos != self.input.len() {
            return Err(miss());
        }
        Ok(value)
    }

    /// Reads `T` as [`from_frames`](super::from_frames) does: outside the decode scope, then
    /// inside it if a `Buffer` asked for it.
    pub(crate) fn read_all<T: de::Deserialize<'de>>(
        input: &'de [u8],
        buffers: &'b [Buffer],
    ) -> Result<T> {
        let mut stream = Self::new(input, buffers);
        match stream.read::<T>(false) {
            Err(Miss) if stream.wants_scope => {
                crate::oob::with_decode_scope(|| Self::new(input, buffers).read::<T>(true)).0
            }
            r => r,
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8> {
        let b = *self.input.get(self.pos).ok_or_else(miss)?;
        self.pos += 1;
        Ok(b)
    }

    /// The payload of the bytes opcode `op` (`SHORT_BINBYTES`, `BINBYTES`, `BINBYTES8` or
    /// `BYTEARRAY8`) at the cursor, read past along with the memo opcodes after it.
    fn bytes_payload(&mut self, op: u8) -> Result<&'de [u8]> {
        let at = self.pos;
        self.pos += 1;
        let n = match op {
            SHORT_BINBYTES => usize::from(self.byte()?),
            BINBYTES => self.len4()?,
            _ => self.len8()?,
        };
        let bytes = self.take(n)?;
        self.memo_ops(at, Kind::Value)?;
        Ok(bytes)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        if self.replay > 0 {
            // Bytes read again for a `GET` count against the budget, so that many `GET`s of
            // one large memoized value cannot make the work quadratic (the machine shares it).
            self.budget = self.budget.checked_sub(n).ok_or_else(miss)?;
        }
        let end = self.pos.checked_add(n).ok_or_else(miss)?;
        let s = self.input.get(self.pos..end).ok_or_else(miss)?;
        self.pos = end;
        Ok(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    #[inline]
    fn len8(&mut self) -> Result<usize> {
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| miss())
    }

    #[inline]
    fn len4(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    /// The next opcode, past any `FRAME`s, without consuming it.
    #[inline]
    fn peek(&mut self) -> Result<u8> {
        loop {
            let b = *self.input.get(self.pos).ok_or_else(miss)?;
            if b != FRAME {
                return Ok(b);
            }
            self.pos += 1;
            let n = self.len8()?;
            if n > self.input.len() - self.pos {
                return Err(miss());
            }
        }
    }

    /// The next opcode, past any `FRAME`s, consumed.
    #[inline]
    fn op(&mut self) -> Result<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn expect(&mut self, op: u8) -> Result<()> {
        if self.op()? == op {
            Ok(())
        } else {
            Err(miss())
        }
    }

    #[inline]
    fn charge(&mut self) -> Result<()> {
        self.budget = self.budget.checked_sub(1).ok_or_else(miss)?;
        Ok(())
    }

    #[inline]
    fn enter(&mut self) -> Result<()> {
        if self.depth >= DEPTH {
            return Err(miss());
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes the memo opcodes after a value that starts at `start`, recording it.
    #[inline(always)]
    fn memo_ops(&mut self, start: usize, kind: Kind) -> Result<()> {
        match self.input.get(self.pos) {
            Some(&(MEMOIZE | BINPUT | LONG_BINPUT | FRAME)) => self.memo_record(start, kind),
            _ => Ok(()),
        }
    }

    fn memo_record(&mut self, start: usize, kind: Kind) -> Result<()> {
        let end = self.pos;
        loop {
            let index = match self.peek()? {
                MEMOIZE => {
                    self.pos += 1;
                    self.memo_len
                }
                BINPUT => {
                    self.pos += 1;
                    usize::from(self.byte()?)
                }
                LONG_BINPUT => {
                    self.pos += 1;
                    self.len4()?
                }
                _ => return Ok(()),
            };
            if self.replay > 0 {
                continue;
            }
            let entry = Entry {
                offset: u32::try_from(start).map_err(|_| miss())?,
                end: u32::try_from(end).map_err(|_| miss())?,
                kind,
            };
            if index == self.memo.len() {
                // CPython's pickler numbers its memo in order: the usual case.
                if self.memo.len() == self.memo.capacity() {
                    // About one slot per 16 input bytes in CPython's pickles.
                    self.memo.reserve((self.input.len() / 16).max(64));
                }
                self.memo.push(entry);
                self.memo_len += 1;
                continue;
            }
            if index > self.memo.len() + MEMO_SLACK {
                return Err(miss());
            }
            if index >= self.memo.len() {
                self.memo.resize(
                    index + 1,
                    Entry {
                        offset: 0,
                        end: 0,
                        kind: Kind::Empty,
                    },
                );
            }
            if self.memo[index].kind != Kind::Empty {
                // CPython never writes a slot twice; the machine handles streams that do.
                return Err(miss());
            }
            self.memo_len += 1;
            self.memo[index] = entry;
        }
    }

    /// The memo entry a `BINGET`/`LONG_BINGET` (already peeked) names, consumed.
    fn get(&mut self) -> Result<Entry> {
        let index = match self.op()? {
            BINGET => usize::from(self.byte()?),
            LONG_BINGET => self.len4()?,
            _ => return Err(miss()),
        };
        match self.memo.get(index) {
            Some(e) if e.kind != Kind::Empty => Ok(*e),
            _ => Err(miss()),
        }
    }

    /// The memo entry a `BINGET`/`LONG_BINGET` at the current position names, not consumed.
    fn peek_entry(&self) -> Option<Entry> {
        let index = match *self.input.get(self.pos)? {
            BINGET => usize::from(*self.input.get(self.pos + 1)?),
            LONG_BINGET => {
                let b = self.input.get(self.pos + 1..self.pos + 5)?;
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            _ => return None,
        };
        self.memo
            .get(index)
            .copied()
            .filter(|e| e.kind != Kind::Empty)
    }

    /// The memoized value at `e` when it is a `SHORT_BINUNICODE` str.
    #[inline]
    fn short_str_at(&self, e: Entry) -> Option<&'de str> {
        if e.kind != Kind::Value {
            return None;
        }
        match self.input.get(e.offset as usize..)? {
            [SHORT_BINUNICODE, n, rest @ ..] => Self::utf8(rest.get(..usize::from(*n))?).ok(),
            _ => None,
        }
    }

    /// Reads again, with `read`, the value the `GET` at the cursor refers to, from where it was
    /// memoized, if `accept` takes its memo entry (else a miss).
    fn reread<R>(
        &mut self,
        accept: impl FnOnce(&Entry) -> bool,
        read: impl FnOnce(&mut Self, Entry) -> Result<R>,
    ) -> Result<R> {
        let e = self.get()?;
        if !accept(&e) {
            return Err(miss());
        }
        self.replay(e, |s| {
            s.peek()?;
            read(s, e)
        })
    }

    /// Reads the memoized value at `e` with `f`, then comes back.
    fn replay<R>(&mut self, e: Entry, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.enter()?;
        let back = core::mem::replace(&mut self.pos, e.offset as usize);
        self.replay += 1;
        let r = f(self);
        self.replay -= 1;
        self.pos = back;
        self.depth -= 1;
        r
    }

    #[inline]
    fn utf8(bytes: &'de [u8]) -> Result<&'de str> {
        if bytes.len() <= 32 && bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8 (the short, common case: names, keys, dtypes;
            // `from_utf8`'s own set-up costs more than the check on a few bytes).
            return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
        }
        core::str::from_utf8(bytes).map_err(|_| miss())
    }

    /// A `str` (or a memoized one).
    fn str_value(&mut self) -> Result<&'de str> {
        let start = self.pos;
        let n = match self.op()? {
            SHORT_BINUNICODE => usize::from(self.byte()?),
            BINUNICODE => self.len4()?,
            BINUNICODE8 => self.len8()?,
            BINGET | LONG_BINGET => {
                self.pos = start;
                return self.reread(|e| e.kind == Kind::Value, |s, _| s.str_value());
            }
            _ => return Err(miss()),
        };
        let s = Self::utf8(self.take(n)?)?;
        self.memo_ops(start, Kind::Value)?;
        Ok(s)
    }

    /// A small int (`BININT*`, `LONG1` of up to 8 bytes).
    fn int_value(&mut self) -> Result<i64> {
        Ok(match self.op()? {
            BININT1 => self.byte()?.into(),
            BININT2 => u16::from_le_bytes(self.array()?).into(),
            BININT => i32::from_le_bytes(self.array()?).into(),
            LONG1 => {
                let n = usize::from(self.byte()?);
                let bytes = self.take(n)?;
                long(bytes).ok_or_else(miss)?
            }
            _ => return Err(miss()),
        })
    }

    /// A global: `STACK_GLOBAL` of two strs, `GLOBAL`, or a memoized one.
    fn global(&mut self) -> Result<Known> {
        let start = self.pos;
        if self.input[start..].starts_with(FROMBUFFER_GLOBAL) {
            // What keel writes, recognized whole.
            self.pos += FROMBUFFER_GLOBAL.len();
            self.memo_ops(start, Kind::Global)?;
            return Ok(Known::Frombuffer);
        }
        let known = match self.peek()? {
            BINGET | LONG_BINGET => {
                return self.reread(|e| e.kind == Kind::Global, |s, _| s.global());
            }
            GLOBAL => {
                self.pos += 1;
                let module = self.line()?;
                let name = self.line()?;
                Known::lookup(module, name)
            }
            _ => {
                let module = self.str_value()?;
                self.peek()?;
                let name = self.str_value()?;
                self.expect(STACK_GLOBAL)?;
                Known::lookup(module, name)
            }
        };
        let known = known.ok_or_else(miss)?;
        self.memo_ops(start, Kind::Global)?;
        Ok(known)
    }

    fn line(&mut self) -> Result<&'de str> {
        let rest = self.input.get(self.pos..).ok_or_else(miss)?;
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(miss)?;
        self.pos += end + 1;
        Self::utf8(&rest[..end])
    }

    /// Any value, handed to `visitor`.
    fn any<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.charge()?;
        self.peek()?;
        let start = self.pos;
        let op = self.byte()?;
        macro_rules! scalar {
            ($v:expr) => {{
                let v = $v;
                self.memo_ops(start, Kind::Value)?;
                v
            }};
        }
        match op {
            NONE => scalar!(visitor.visit_unit()),
            NEWTRUE => scalar!(visitor.visit_bool(true)),
            NEWFALSE => scalar!(visitor.visit_bool(false)),
            BININT1 => {
                let v = self.byte()?;
                scalar!(visitor.visit_i64(v.into()))
            }
            BININT2 => {
                let v = u16::from_le_bytes(self.array()?);
                scalar!(visitor.visit_i64(v.into()))
            }
            BININT => {
                let v = i32::from_le_bytes(self.array()?);
                scalar!(visitor.visit_i64(v.into()))
            }
            LONG1 | LONG4 => {
                let n = if op == LONG1 {
                    usize::from(self.byte()?)
                } else {
                    let n = i32::from_le_bytes(self.array()?);
                    usize::try_from(n).map_err(|_| miss())?
                };
                let bytes = self.take(n)?;
                self.memo_ops(start, Kind::Value)?;
                match long(bytes) {
                    Some(v) => visitor.visit_i64(v),
                    None => big_int(bytes, visitor),
                }
            }
            BINFLOAT => {
                let v = f64::from_be_bytes(self.array()?);
                scalar!(visitor.visit_f64(v))
            }
            SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                let n = match op {
                    SHORT_BINUNICODE => usize::from(self.byte()?),
                    BINUNICODE => self.len4()?,
                    _ => self.len8()?,
                };
                let s = Self::utf8(self.take(n)?)?;
                scalar!(visitor.visit_borrowed_str(s))
            }
            SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8 => {
                let n = match op {
                    SHORT_BINBYTES => usize::from(self.byte()?),
                    BINBYTES => self.len4()?,
                    _ => self.len8()?,
                };
                let b = self.take(n)?;
                scalar!(visitor.visit_borrowed_bytes(b))
            }
            NEXT_BUFFER => {
                let b = self.next_buffer()?;
                self.memo_ops(start, Kind::Value)?;
                visitor.visit_bytes(b)
            }
            EMPTY_LIST | EMPTY_SET | EMPTY_DICT => {
                self.memo_ops(start, Kind::Value)?;
                self.enter()?;
                let close = match op {
                    EMPTY_LIST => APPENDS,
                    EMPTY_SET => ADDITEMS,
                    _ => SETITEMS,
                };
                let mut batches = Batches {
                    s: self,
                    close,
                    in_batch: false,
                    single: false,
                    batches: 0,
                    count: 0,
                    done: false,
                };
                let v = if op == EMPTY_DICT {
                    let v = visitor.visit_map(&mut batches)?;
                    if batches.more()? {
                        return Err(miss());
                    }
                    v
                } else {
                    let v = visitor.visit_seq(&mut batches)?;
                    if batches.more()? {
                        return Err(miss());
                    }
                    v
                };
                self.depth -= 1;
                Ok(v)
            }
            EMPTY_TUPLE => {
                self.memo_ops(start, Kind::Tuple(0))?;
                visitor.visit_seq(Fixed { s: self, left: 0 })
            }
            BINGET | LONG_BINGET => {
                self.pos = start;
                let e = self.get()?;
                if let Some(s) = self.short_str_at(e) {
                    // A memoized short str (a dict key, usually): read in place.
                    return visitor.visit_borrowed_str(s);
                }
                match e.kind {
                    Kind::Value => self.replay(e, |s| s.any(visitor)),
                    Kind::Tuple(n) => {
                        self.replay(e, |s| s.tuple_to(n as usize, visitor, Some(e.end as usize)))
                    }
                    _ => Err(miss()),
                }
            }
            _ => Err(miss()),
        }
    }

    fn next_buffer(&mut self) -> Result<&'b Buffer> {
        if self.replay > 0 {
            return Err(miss());
        }
        let b = self.buffers.get(self.next_buffer).ok_or_else(miss)?;
        self.next_buffer += 1;
        if self.peek()? == READONLY_BUFFER {
            self.pos += 1;
        }
        Ok(b)
    }

    /// A tuple of `len` items, where the type asks for one.
    fn tuple<V: Visitor<'de>>(&mut self, len: usize, visitor: V) -> Result<V::Value> {
        self.tuple_to(len, visitor, None)
    }

    /// [`Self::tuple`], ending exactly at `end` when that is given (a memoized tuple).
    fn tuple_to<V: Visitor<'de>>(
        &mut self,
        len: usize,
        visitor: V,
        end: Option<usize>,
    ) -> Result<V::Value> {
        self.charge()?;
        let start = self.pos;
        let op = self.peek()?;
        let whole = |e: &Entry| u32::try_from(len).is_ok_and(|n| e.kind == Kind::Tuple(n));
        let (closer, marked) = match (op, len) {
            (BINGET | LONG_BINGET, _)
                if self.peek_entry().is_some_and(|e| whole(&e)) || !(1..=3).contains(&len) =>
            {
                return self.reread(whole, |s, e| s.tuple_to(len, visitor, Some(e.end as usize)));
            }
            (EMPTY_TUPLE, 0) => {
                self.pos += 1;
                self.memo_ops(start, Kind::Tuple(0))?;
                return visitor.visit_seq(Fixed { s: self, left: 0 });
            }
            (MARK, 4..) => (TUPLE, true),
            (_, 1..=3) => (TUPLE1 + (len as u8 - 1), false),
            _ => return Err(miss()),
        };
        if marked {
            self.pos += 1;
        }
        self.enter()?;
        let mut items = Fixed { s: self, left: len };
        let v = visitor.visit_seq(&mut items)?;
        if items.left != 0 {
            return Err(miss());
        }
        self.expect(closer)?;
        if end.is_some_and(|end| end != self.pos) {
            return Err(miss());
        }
        self.depth -= 1;
        self.memo_ops(start, Kind::Tuple(len as u32))?;
        Ok(v)
    }

    /// numpy's `_frombuffer(data, dtype, shape, order)`, where the type asks for an
    /// [`NdArray`](super::NdArray).
    fn ndarray<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.charge()?;
        self.peek()?;
        let start = self.pos;
        // A `GET` of the array itself, or of `_frombuffer` (then read on below).
        if self.peek_entry().is_some_and(|e| e.kind == Kind::Array) {
            return self.reread(|_| true, |s, _| s.ndarray(visitor));
        }
        if self.global()? != Known::Frombuffer {
            return Err(miss());
        }
        let args = self.pos;
        self.expect(MARK)?;
        let data = match self.peek()? {
            NEXT_BUFFER => {
                let at = self.pos;
                self.pos += 1;
                let b = self.next_buffer()?;
                self.memo_ops(at, Kind::Value)?;
                Data::OutOfBand(b)
            }
            op @ (SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8) => {
                Data::InBand(self.bytes_payload(op)?)
            }
            _ => return Err(miss()),
        };
        self.peek()?;
        let dtype = self.dtype()?;
        self.peek()?;
        let shape = self.shape()?;
        self.peek()?;
        let order = self.str_value()?;
        self.expect(TUPLE)?;
        self.memo_ops(args, Kind::Tuple(4))?;
        self.expect(REDUCE)?;
        self.memo_ops(start, Kind::Array)?;
        if let Data::OutOfBand(b) = data {
            // The array whole, straight to `NdArray`'s visitor.
            let dims = &shape.dims[..shape.len as usize];
            hand_over(b.clone(), dtype.as_bytes(), dims, order.as_bytes()).ok_or_else(miss)?;
            return visitor.visit_unit();
        }
        visitor.visit_newtype_struct(Parts {
            data,
            dtype,
            shape,
            order,
        })
    }

    /// `numpy.dtype(name, False, True)` and its `BUILD` state, or a memoized one.
    fn dtype(&mut self) -> Result<Small> {
        let start = self.pos;
        if matches!(self.peek()?, BINGET | LONG_BINGET) {
            return self.reread(|e| e.kind == Kind::Dtype, |s, _| s.dtype());
        }
        if let Some(t) = self.input.get(start..start + DTYPE_LEN) {
            // What keel writes for a numeric dtype, recognized whole: the bytes with the name
            // and the byte order blanked are the template.
            const NAME: usize = DTYPE_HEAD.len();
            const ORDER: usize = NAME + 2 + DTYPE_MIDDLE.len();
            const TEMPLATE: [u8; DTYPE_LEN] = {
                let mut t = [0u8; DTYPE_LEN];
                let mut i = 0;
                while i < DTYPE_HEAD.len() {
                    t[i] = DTYPE_HEAD[i];
                    i += 1;
                }
                let mut i = 0;
                while i < DTYPE_MIDDLE.len() {
                    t[NAME + 2 + i] = DTYPE_MIDDLE[i];
                    i += 1;
                }
                let mut i = 0;
                while i < DTYPE_TAIL.len() {
                    t[ORDER + 1 + i] = DTYPE_TAIL[i];
                    i += 1;
                }
                t
            };
            let mut blanked = [0u8; DTYPE_LEN];
            blanked.copy_from_slice(t);
            let (name, order) = ([t[NAME], t[NAME + 1]], t[ORDER]);
            blanked[NAME] = 0;
            blanked[NAME + 1] = 0;
            blanked[ORDER] = 0;
            if blanked == TEMPLATE
                && name.iter().all(u8::is_ascii_alphanumeric)
                && matches!(order, b'<' | b'>' | b'|' | b'=')
            {
                self.pos += DTYPE_LEN;
                return Small::new(order, Self::utf8(&t[NAME..NAME + 2])?);
            }
        }
        if self.global()? != Known::Dtype {
            return Err(miss());
        }
        let args = self.peek().map(|_| self.pos)?;
        let name = self.str_value()?;
        for _ in 0..2 {
            if !matches!(self.op()?, NEWTRUE | NEWFALSE) {
                return Err(miss());
            }
        }
        self.expect(TUPLE3)?;
        self.memo_ops(args, Kind::Tuple(3))?;
        self.expect(REDUCE)?;
        self.memo_ops(start, Kind::Dtype)?;
        // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        let state = self.peek().map(|_| self.pos)?;
        self.expect(MARK)?;
        self.int_value()?;
        self.peek()?;
        let order = self.str_value()?;
        for _ in 0..3 {
            self.expect(NONE)?;
        }
        for _ in 0..3 {
            self.peek()?;
            self.int_value()?;
        }
        self.expect(TUPLE)?;
        self.memo_ops(state, Kind::Tuple(8))?;
        self.expect(BUILD)?;
        let order = match order.as_bytes() {
            [o @ (b'<' | b'>' | b'|' | b'=')] => *o,
            _ => return Err(miss()),
        };
        Small::new(order, name)
    }

    /// A numpy shape: a tuple of ints, or a memoized one.
    fn shape(&mut self) -> Result<Dims> {
        self.shape_to(None)
    }

    /// [`Self::shape`], ending exactly at `end` when that is given (a memoized tuple).
    fn shape_to(&mut self, end: Option<usize>) -> Result<Dims> {
        let start = self.pos;
        let mut dims = Dims::default();
        // A 1-D shape, `(n,)`, with `n` in `BININT1`/`BININT2` and no memo: the usual case.
        let one = match self.input.get(start..) {
            Some(&[BININT1, n, TUPLE1, ..]) => Some((u64::from(n), 3)),
            Some(&[BININT2, a, b, TUPLE1, ..]) => Some((u64::from(u16::from_le_bytes([a, b])), 4)),
            Some(&[BININT, a, b, c, d, TUPLE1, ..]) => {
                let n = i32::from_le_bytes([a, b, c, d]);
                u64::try_from(n).ok().map(|n| (n, 6))
            }
            _ => None,
        };
        if let Some((n, len)) = one
            && end.is_none_or(|end| end == start + len)
        {
            self.pos += len;
            dims.push(n)?;
            self.memo_ops(start, Kind::Tuple(1))?;
            return Ok(dims);
        }
        let marked = match self.peek()? {
            BINGET | LONG_BINGET => {
                return self.reread(
                    |e| matches!(e.kind, Kind::Tuple(_)),
                    |s, e| s.shape_to(Some(e.end as usize)),
                );
            }
            EMPTY_TUPLE => {
                self.pos += 1;
                if end.is_some_and(|end| end != self.pos) {
                    return Err(miss());
                }
                self.memo_ops(start, Kind::Tuple(0))?;
                return Ok(dims);
            }
            MARK => {
                self.pos += 1;
                true
            }
            _ => false,
        };
        loop {
            let d = self.int_value()?;
            dims.push(u64::try_from(d).map_err(|_| miss())?)?;
            let op = self.peek()?;
            let n = dims.len as u8;
            if (marked && op == TUPLE) || (!marked && n <= 3 && op == TUPLE1 + n - 1) {
                self.pos += 1;
                break;
            }
            if !marked && n >= 3 {
                return Err(miss());
            }
        }
        if end.is_some_and(|end| end != self.pos) {
            return Err(miss());
        }
        self.memo_ops(start, Kind::Tuple(dims.len))?;
        Ok(dims)
    }
}

/// A small int's value from `LONG1`'s little-endian bytes, when it fits an `i64`.
fn long(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        0 => Some(0),
        n @ 1..=8 => {
            let fill = if bytes[n - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut le = [fill; 8];
            le[..n].copy_from_slice(bytes);
            Some(i64::from_le_bytes(le))
        }
        _ => None,
    }
}

impl<'de> de::Deserializer<'de> for &mut Stream<'de, '_> {
    type Error = Miss;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == NONE {
            self.charge()?;
            let start = self.pos;
            self.pos += 1;
            self.memo_ops(start, Kind::Value)?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == NDARRAY_TOKEN {
            return self.ndarray(visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.tuple(len, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.charge()?;
        let start = self.pos;
        if crate::oob::is_buffer_enum(name, variants) {
            return match self.peek()? {
                NEXT_BUFFER => {
                    self.pos += 1;
                    let b = self.next_buffer()?.clone();
                    self.memo_ops(start, Kind::Value)?;
                    let index = crate::oob::push_decode_buffer(b).ok_or_else(miss)?;
                    visitor.visit_enum(OobVariant::OutOfBand(index))
                }
                op @ (SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8) => {
                    visitor.visit_enum(OobVariant::InBand(self.bytes_payload(op)?))
                }
                _ => Err(miss()),
            };
        }
        match self.peek()? {
            EMPTY_DICT => {
                self.pos += 1;
                self.memo_ops(start, Kind::Value)?;
                let batch = self.peek()? == MARK;
                if batch {
                    self.pos += 1;
                }
                self.enter()?;
                let v = visitor.visit_enum(OneEntry { s: self, batch })?;
                self.depth -= 1;
                Ok(v)
            }
            _ => {
                let variant = self.str_value()?;
                visitor.visit_enum(BorrowedStrDeserializer::<Miss>::new(variant))
            }
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.any(IgnoredAny)?;
        visitor.visit_unit()
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if !self.scoped {
            // Perhaps a `Buffer` outside the decode scope: read again inside it.
            self.wants_scope = true;
            return Err(miss());
        }
        self.any(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        // A `Vec<u8>` (or any sequence) from `bytes`: its bytes one by one.
        let op = self.peek()?;
        if matches!(op, SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8) {
            self.charge()?;
            let b = self.bytes_payload(op)?;
            return visitor.visit_seq(de::value::SeqDeserializer::<_, Miss>::new(
                b.iter().copied(),
            ));
        }
        self.any(visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes unit unit_struct map struct identifier
    }
}

/// Whether `op` can start a value [`Stream::any`] reads.
fn starts_value(op: u8) -> bool {
    matches!(
        op,
        NONE | NEWTRUE
            | NEWFALSE
            | BININT
            | BININT1
            | BININT2
            | LONG1
            | LONG4
            | BINFLOAT
            | SHORT_BINUNICODE
            | BINUNICODE
            | BINUNICODE8
            | SHORT_BINBYTES
            | BINBYTES
            | BINBYTES8
            | BYTEARRAY8
            | NEXT_BUFFER
            | EMPTY_LIST
            | EMPTY_DICT
            | EMPTY_SET
            | EMPTY_TUPLE
            | BINGET
            | LONG_BINGET
    )
}

impl Stream<'_, '_> {
    /// Whether `values` values follow and then `op`: CPython's one-item batch (`x APPEND`,
    /// `k v SETITEM`). Reads ahead and comes back, leaving no trace.
    fn followed_by(&mut self, values: usize, op: u8) -> bool {
        if self.lookahead >= LOOKAHEAD {
            return false;
        }
        self.lookahead += 1;
        let saved = (
            self.pos,
            self.memo.len(),
            self.memo_len,
            self.next_buffer,
            self.depth,
        );
        let mut ok = true;
        for _ in 0..values {
            ok = ok && self.any(IgnoredAny).is_ok();
        }
        let ok = ok && self.peek().is_ok_and(|next| next == op);
        self.pos = saved.0;
        self.memo.truncate(saved.1);
        self.memo_len = saved.2;
        self.next_buffer = saved.3;
        self.depth = saved.4;
        self.lookahead -= 1;
        ok
    }
}

/// A list, set or dict's `MARK ... APPENDS`/`ADDITEMS`/`SETITEMS` batches, and CPython's
/// one-item `x APPEND` / `k v SETITEM`.
struct Batches<'s, 'de, 'b> {
    s: &'s mut Stream<'de, 'b>,
    close: u8,
    in_batch: bool,
    /// The item being read is a one-item batch: its `APPEND`/`SETITEM` follows it.
    single: bool,
    /// Batches closed so far, and the items of the current (or last) one.
    batches: u32,
    count: usize,
    done: bool,
}

/// CPython's batch size: a one-item batch only comes alone or after full batches.
const BATCH: usize = 1000;

impl Batches<'_, '_, '_> {
    /// Whether an item follows (consuming batch boundaries).
    #[inline]
    fn more(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        loop {
            let op = self.s.peek()?;
            if self.in_batch {
                if op != self.close {
                    self.count += 1;
                    return Ok(true);
                }
                self.in_batch = false;
                self.batches += 1;
            } else if op == MARK {
                self.in_batch = true;
                self.count = 0;
            } else {
                // Look ahead only where CPython may have written `x APPEND`/`k v SETITEM`.
                let maybe = self.batches == 0 || self.count == BATCH;
                let single = maybe
                    && match self.close {
                        APPENDS => starts_value(op) && self.s.followed_by(1, APPEND),
                        SETITEMS => starts_value(op) && self.s.followed_by(2, SETITEM),
                        _ => false,
                    };
                if single {
                    self.single = true;
                    self.batches += 1;
                    self.count = 1;
                    return Ok(true);
                }
                self.done = true;
                return Ok(false);
            }
            self.s.pos += 1;
        }
    }
}

impl<'de> SeqAccess<'de> for Batches<'_, 'de, '_> {
    type Error = Miss;
    #[inline]
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        if !self.more()? {
            return Ok(None);
        }
        let v = seed.deserialize(&mut *self.s)?;
        if core::mem::take(&mut self.single) {
            self.s.expect(APPEND)?;
        }
        Ok(Some(v))
    }
}

impl<'de> MapAccess<'de> for Batches<'_, 'de, '_> {
    type Error = Miss;
    #[inline]
    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        if self.more()? {
            seed.deserialize(&mut *self.s).map(Some)
        } else {
            Ok(None)
        }
    }
    #[inline]
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        let v = seed.deserialize(&mut *self.s)?;
        if core::mem::take(&mut self.single) {
            self.s.expect(SETITEM)?;
        }
        Ok(v)
    }
}

/// A tuple's `left` items.
struct Fixed<'s, 'de, 'b> {
    s: &'s mut Stream<'de, 'b>,
    left: usize,
}

impl<'de> SeqAccess<'de> for Fixed<'_, 'de, '_> {
    type Error = Miss;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.s).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum written as a one-entry dict `{variant: value}`, after its `EMPTY_DICT`.
struct OneEntry<'s, 'de, 'b> {
    s: &'s mut Stream<'de, 'b>,
    /// `MARK k v SETITEMS` rather than `k v SETITEM`.
    batch: bool,
}

impl OneEntry<'_, '_, '_> {
    fn close(self) -> Result<()> {
        self.s.expect(if self.batch { SETITEMS } else { SETITEM })
    }
}

impl<'de, 's, 'b> EnumAccess<'de> for OneEntry<'s, 'de, 'b> {
    type Error = Miss;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let v = seed.deserialize(&mut *self.s)?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for OneEntry<'_, 'de, '_> {
    type Error = Miss;
    fn unit_variant(self) -> Result<()> {
        self.s.expect(NONE)?;
        self.close()
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        let v = seed.deserialize(&mut *self.s)?;
        self.close()?;
        Ok(v)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let v = self.s.tuple(len, visitor)?;
        self.close()?;
        Ok(v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let v = self.s.any(visitor)?;
        self.close()?;
        Ok(v)
    }
}

/// A dtype string with its byte order (`"<f8"`), without an allocation.
#[derive(Clone, Copy)]
struct Small {
    len: u8,
    buf: [u8; 16],
}

impl Small {
    fn new(order: u8, name: &str) -> Result<Self> {
        let mut buf = [0u8; 16];
        let n = name.len();
        if n >= buf.len() {
            return Err(miss());
        }
        buf[0] = order;
        buf[1..=n].copy_from_slice(name.as_bytes());
        Ok(Self {
            len: n as u8 + 1,
            buf,
        })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    fn as_str(&self) -> Result<&str> {
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).map_err(|_| miss())
    }
}

/// A shape of up to 8 dimensions (numpy allows 64; more makes this reader give up).
#[derive(Clone, Copy, Default)]
struct Dims {
    len: u32,
    dims: [u64; 8],
}

impl Dims {
    fn push(&mut self, d: u64) -> Result<()> {
        *self.dims.get_mut(self.len as usize).ok_or_else(miss)? = d;
        self.len += 1;
        Ok(())
    }
}

enum Data<'de, 'b> {
    OutOfBand(&'b Buffer),
    InBand(&'de [u8]),
}

/// A `_frombuffer` array's `(data, dtype, shape, order)`, as the tuple `NdArray` reads.
struct Parts<'de, 'b> {
    data: Data<'de, 'b>,
    dtype: Small,
    shape: Dims,
    order: &'de str,
}

impl<'de> de::Deserializer<'de> for Parts<'de, '_> {
    type Error = Miss;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(PartsSeq {
            parts: self,
            next: 0,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct PartsSeq<'de, 'b> {
    parts: Parts<'de, 'b>,
    next: u8,
}

impl<'de> SeqAccess<'de> for PartsSeq<'de, '_> {
    type Error = Miss;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        let i = self.next;
        self.next = self.next.saturating_add(1);
        let p = &self.parts;
        match i {
            0 => seed.deserialize(DataDe(&p.data)).map(Some),
            1 => seed
                .deserialize(StrDeserializer::<Miss>::new(p.dtype.as_str()?))
                .map(Some),
            2 => {
                let dims = &p.shape.dims[..p.shape.len as usize];
                seed.deserialize(de::value::SeqDeserializer::<_, Miss>::new(
                    dims.iter().copied(),
                ))
                .map(Some)
            }
            3 => seed
                .deserialize(BorrowedStrDeserializer::<Miss>::new(p.order))
                .map(Some),
            _ => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(4usize.saturating_sub(self.next.into()))
    }
}

/// An array's data: a `Buffer` (sharing the out-of-band one) or its bytes.
struct DataDe<'a, 'de, 'b>(&'a Data<'de, 'b>);

impl<'de> de::Deserializer<'de> for DataDe<'_, 'de, '_> {
    type Error = Miss;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Data::OutOfBand(b) => visitor.visit_bytes(b),
            Data::InBand(b) => de::Deserializer::deserialize_any(
                BorrowedBytesDeserializer::<Miss>::new(b),
                visitor,
            ),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if !crate::oob::is_buffer_enum(name, variants) {
            return self.deserialize_any(visitor);
        }
        match self.0 {
            Data::OutOfBand(b) => {
                let index = crate::oob::push_decode_buffer((*b).clone()).ok_or_else(miss)?;
                visitor.visit_enum(OobVariant::OutOfBand(index))
            }
            Data::InBand(b) => visitor.visit_enum(OobVariant::InBand(b)),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// `keel::buffer::Buffer`'s serde form (see `keel::oob`): an out-of-band index, or bytes.
enum OobVariant<'de> {
    OutOfBand(u32),
    InBand(&'de [u8]),
}

impl<'de> EnumAccess<'de> for OobVariant<'de> {
    type Error = Miss;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let index = u32::from(matches!(self, OobVariant::OutOfBand(_)));
        let v = seed.deserialize(U32Deserializer::<Miss>::new(index))?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for OobVariant<'de> {
    type Error = Miss;
    fn unit_variant(self) -> Result<()> {
        Err(miss())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        match self {
            OobVariant::OutOfBand(i) => seed.deserialize(U32Deserializer::new(i)),
            OobVariant::InBand(b) => seed.deserialize(BorrowedBytesDeserializer::new(b)),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(miss())
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(miss())
    }
}
