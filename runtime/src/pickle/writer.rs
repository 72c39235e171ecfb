//! The writer: a serde `Serializer` that emits pickle protocol 5 opcodes.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::error::PickleError;

/// The writer's error: boxed, so that every `Result` the serializer returns is one word.
pub(crate) type WriteError = Box<PickleError>;

trait Encode {
    fn encode(message: String) -> Self;
}

impl Encode for WriteError {
    #[cold]
    fn encode(message: String) -> Self {
        Box::new(PickleError::Encode(message))
    }
}
use super::numpy::{DTYPE_TOKEN, NDARRAY_TOKEN};
use super::opcodes::*;

/// How many items CPython's pickler puts between a `MARK` and its `APPENDS`/`SETITEMS`.
const BATCH: usize = 1000;

/// `numpy._core.numeric._frombuffer` (the module numpy ≥ 1.26 and 2.x both import it from
/// without a warning) as numpy pickles it (less its memo opcodes): two short
/// strs and `STACK_GLOBAL`. Written as these bytes; the direct reader recognizes them whole.
pub(crate) const FROMBUFFER_GLOBAL: &[u8] = b"\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93";

/// numpy's reduction of a dtype with a two-character name (every numeric one: `f8`, `u1`...),
/// less its memo opcodes: `DTYPE_HEAD`, the name, `DTYPE_MIDDLE`, the byte order, `DTYPE_TAIL`
/// — `numpy.dtype(name, False, True)`, then `BUILD` with the state
/// `(3, order, None, None, None, -1, -1, 0)`.
pub(crate) const DTYPE_HEAD: &[u8] = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02";
/// See [`DTYPE_HEAD`].
pub(crate) const DTYPE_MIDDLE: &[u8] = b"\x89\x88\x87R(K\x03\x8c\x01";
/// See [`DTYPE_HEAD`].
pub(crate) const DTYPE_TAIL: &[u8] = b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb";
/// The length of a whole two-character dtype's reduction.
pub(crate) const DTYPE_LEN: usize =
    DTYPE_HEAD.len() + 2 + DTYPE_MIDDLE.len() + 1 + DTYPE_TAIL.len();

/// Serializes into `out`; the caller writes the `PROTO`/`FRAME` header and `STOP`.
pub(crate) struct Writer {
    pub(crate) out: Vec<u8>,
    /// The next `str` is a numpy dtype (`"<f8"`) to write as its reconstruction.
    dtype_next: bool,
    /// `NEXT_BUFFER`s written so far: `Buffer`'s out-of-band index must equal it.
    buffers: u32,
}

impl Writer {
    pub(crate) fn new(out: Vec<u8>) -> Self {
        Self {
            out,
            dtype_next: false,
            buffers: 0,
        }
    }

    #[inline(always)]
    fn op(&mut self, op: u8) {
        self.out.push(op);
    }

    #[inline(always)]
    pub(crate) fn int(&mut self, v: i64) {
        if (0..=0xff).contains(&v) {
            self.out.extend_from_slice(&[BININT1, v as u8]);
        } else if (0..=0xffff).contains(&v) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.out.push(BININT);
            self.out.extend_from_slice(&v.to_le_bytes());
        } else {
            self.long(&v.to_le_bytes());
        }
    }

    /// `LONG1`/`LONG4` of a little-endian two's-complement integer, trimmed to its shortest form.
    #[inline]
    fn long(&mut self, le: &[u8]) {
        let mut n = le.len();
        while n > 1 {
            let (last, prev) = (le[n - 1], le[n - 2]);
            if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                n -= 1;
            } else {
                break;
            }
        }
        if let Ok(len) = u8::try_from(n) {
            self.out.extend_from_slice(&[LONG1, len]);
        } else {
            self.out.push(LONG4);
            self.out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.out.extend_from_slice(&le[..n]);
    }

    #[inline(always)]
    pub(crate) fn str(&mut self, s: &str) {
        let len = s.len();
        if len < 256 {
            self.out.extend_from_slice(&[SHORT_BINUNICODE, len as u8]);
        } else if let Ok(len) = u32::try_from(len) {
            self.out.push(BINUNICODE);
            self.out.extend_from_slice(&len.to_le_bytes());
        } else {
            self.out.push(BINUNICODE8);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        let len = b.len();
        if len < 256 {
            self.out.extend_from_slice(&[SHORT_BINBYTES, len as u8]);
        } else if let Ok(len) = u32::try_from(len) {
            self.out.push(BINBYTES);
            self.out.extend_from_slice(&len.to_le_bytes());
        } else {
            self.out.push(BINBYTES8);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    #[inline]
    fn global(&mut self, module: &str, name: &str) {
        self.str(module);
        self.str(name);
        self.op(STACK_GLOBAL);
    }

    /// `numpy.dtype(name, False, True)` with the state numpy's own `__reduce__` gives it.
    #[inline]
    fn dtype(&mut self, spec: &str) -> Result<(), WriteError> {
        let mut chars = spec.chars();
        let order = chars.next().filter(|c| matches!(c, '<' | '>' | '|'));
        let (Some(order), name) = (order, chars.as_str()) else {
            return Err(WriteError::encode(format!(
                "a numpy dtype must start with '<', '>' or '|', got {spec:?}"
            )));
        };
        if let &[a, b] = name.as_bytes() {
            self.out.reserve(DTYPE_LEN);
            self.out.extend_from_slice(DTYPE_HEAD);
            self.out.extend_from_slice(&[a, b]);
            self.out.extend_from_slice(DTYPE_MIDDLE);
            self.out.push(order as u8);
            self.out.extend_from_slice(DTYPE_TAIL);
            return Ok(());
        }
        self.global("numpy", "dtype");
        self.str(name);
        self.out
            .extend_from_slice(&[NEWFALSE, NEWTRUE, TUPLE3, REDUCE, MARK]);
        self.int(3);
        let mut buf = [0u8; 4];
        self.str(order.encode_utf8(&mut buf));
        self.out.extend_from_slice(&[NONE, NONE, NONE]);
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.out.extend_from_slice(&[TUPLE, BUILD]);
        Ok(())
    }

    #[inline(always)]
    fn begin_batch(&mut self, empty: u8) {
        self.out.extend_from_slice(&[empty, MARK]);
    }

    #[inline(always)]
    fn end_batch(&mut self, in_batch: usize, close: u8) {
        if in_batch == 0 {
            // The `MARK` just written opened nothing.
            self.out.pop();
        } else {
            self.out.push(close);
        }
    }
}

/// A serializer for `Buffer`'s out-of-band index that checks it is the next one.
struct IndexCheck(u32);

macro_rules! not_an_index {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<bool, WriteError> { Ok(false) })*
    };
}

impl ser::Serializer for IndexCheck {
    type Ok = bool;
    type Error = WriteError;
    type SerializeSeq = Impossible<bool, WriteError>;
    type SerializeTuple = Impossible<bool, WriteError>;
    type SerializeTupleStruct = Impossible<bool, WriteError>;
    type SerializeTupleVariant = Impossible<bool, WriteError>;
    type SerializeMap = Impossible<bool, WriteError>;
    type SerializeStruct = Impossible<bool, WriteError>;
    type SerializeStructVariant = Impossible<bool, WriteError>;

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<bool, WriteError> {
        Ok(v == self.0)
    }
    not_an_index!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<bool, WriteError> {
        Ok(false)
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<bool, WriteError> {
        Ok(false)
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, WriteError> {
        Ok(false)
    }
    #[inline]
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Err(WriteError::encode("not an index".into()))
    }
}

/// What a [`Compound`] closes with.
#[derive(Clone, Copy)]
enum Kind {
    /// A list: `APPENDS` per batch.
    List,
    /// A tuple of this many items.
    Tuple(usize),
    /// A dict: `SETITEMS` per batch.
    Dict,
    /// A tuple inside a one-entry dict `{variant: (...)}`.
    TupleVariant(usize),
    /// A dict inside a one-entry dict `{variant: {...}}`.
    StructVariant,
}

pub(crate) struct Compound<'a> {
    w: &'a mut Writer,
    kind: Kind,
    /// Items (or key/value pairs) since the last `MARK`.
    in_batch: usize,
}

impl<'a> Compound<'a> {
    #[inline]
    fn tuple(w: &'a mut Writer, len: usize, kind: Kind) -> Self {
        if len == 0 {
            w.op(EMPTY_TUPLE);
        } else if len > 3 {
            w.op(MARK);
        }
        Self {
            w,
            kind,
            in_batch: 0,
        }
    }

    #[inline]
    fn list(w: &'a mut Writer) -> Self {
        w.begin_batch(EMPTY_LIST);
        Self {
            w,
            kind: Kind::List,
            in_batch: 0,
        }
    }

    #[inline]
    fn dict(w: &'a mut Writer, kind: Kind) -> Self {
        w.begin_batch(EMPTY_DICT);
        Self {
            w,
            kind,
            in_batch: 0,
        }
    }

    #[inline]
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut *self.w)?;
        self.in_batch += 1;
        if matches!(self.kind, Kind::List) && self.in_batch == BATCH {
            self.w.out.extend_from_slice(&[APPENDS, MARK]);
            self.in_batch = 0;
        }
        Ok(())
    }

    #[inline]
    fn entry_done(&mut self) {
        self.in_batch += 1;
        if self.in_batch == BATCH {
            self.w.out.extend_from_slice(&[SETITEMS, MARK]);
            self.in_batch = 0;
        }
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.w.str(key);
        value.serialize(&mut *self.w)?;
        self.entry_done();
        Ok(())
    }

    #[inline]
    fn finish(self) -> Result<(), WriteError> {
        match self.kind {
            Kind::List => self.w.end_batch(self.in_batch, APPENDS),
            Kind::Dict => self.w.end_batch(self.in_batch, SETITEMS),
            Kind::Tuple(len) | Kind::TupleVariant(len) => {
                if len != self.in_batch {
                    return Err(WriteError::encode(format!(
                        "a tuple announced {len} items but serialized {}",
                        self.in_batch
                    )));
                }
                match len {
                    0 => {}
                    1 => self.w.op(TUPLE1),
                    2 => self.w.op(TUPLE2),
                    3 => self.w.op(TUPLE3),
                    _ => self.w.op(TUPLE),
                }
                if matches!(self.kind, Kind::TupleVariant(_)) {
                    self.w.op(SETITEM);
                }
            }
            Kind::StructVariant => {
                self.w.end_batch(self.in_batch, SETITEMS);
                self.w.op(SETITEM);
            }
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        // Only `serialize_seq` makes this a `SerializeSeq`: always a list.
        value.serialize(&mut *self.w)?;
        self.in_batch += 1;
        if self.in_batch == BATCH {
            self.w.out.extend_from_slice(&[APPENDS, MARK]);
            self.in_batch = 0;
        }
        Ok(())
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.w.end_batch(self.in_batch, APPENDS);
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.item(value)
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.item(value)
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.item(value)
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        key.serialize(&mut *self.w)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut *self.w)?;
        self.entry_done();
        Ok(())
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.field(key, value)
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        // Only `serialize_struct` makes this a `SerializeStruct`: always a dict.
        self.w.end_batch(self.in_batch, SETITEMS);
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.field(key, value)
    }
    #[inline]
    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.op(if v { NEWTRUE } else { NEWFALSE });
        Ok(())
    }
    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), WriteError> {
        self.int(v);
        Ok(())
    }
    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), WriteError> {
        match i64::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => self.long(&v.to_le_bytes()),
        }
        Ok(())
    }
    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), WriteError> {
        self.int(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), WriteError> {
        self.serialize_u128(v.into())
    }
    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), WriteError> {
        match i64::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => {
                let mut le = [0u8; 17];
                le[..16].copy_from_slice(&v.to_le_bytes());
                self.long(&le);
            }
        }
        Ok(())
    }
    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        self.serialize_f64(v.into())
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        self.op(BINFLOAT);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        let mut buf = [0u8; 4];
        self.str(v.encode_utf8(&mut buf));
        Ok(())
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        if core::mem::take(&mut self.dtype_next) {
            return self.dtype(v);
        }
        self.str(v);
        Ok(())
    }
    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        self.bytes(v);
        Ok(())
    }
    #[inline]
    fn serialize_none(self) -> Result<(), WriteError> {
        self.op(NONE);
        Ok(())
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }
    #[inline]
    fn serialize_unit(self) -> Result<(), WriteError> {
        self.op(NONE);
        Ok(())
    }
    #[inline]
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), WriteError> {
        self.op(NONE);
        Ok(())
    }
    #[inline]
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.str(variant);
        Ok(())
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        match name {
            NDARRAY_TOKEN => {
                // `_frombuffer(buffer, dtype, shape, order)`: the 4-tuple is the value itself.
                self.out.extend_from_slice(FROMBUFFER_GLOBAL);
                value.serialize(&mut *self)?;
                self.op(REDUCE);
                Ok(())
            }
            DTYPE_TOKEN => {
                self.dtype_next = true;
                let result = value.serialize(&mut *self);
                if core::mem::take(&mut self.dtype_next) {
                    return Err(WriteError::encode("a numpy dtype must be a str".into()));
                }
                result
            }
            _ => value.serialize(self),
        }
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        // `keel::buffer::Buffer` inside the out-of-band scope (see `keel::oob`).
        if name == "Buffer" {
            if variant == "OutOfBand" && value.serialize(IndexCheck(self.buffers)).unwrap_or(false)
            {
                self.buffers += 1;
                // A `Buffer` is immutable: Python gets a read-only view.
                self.out.extend_from_slice(&[NEXT_BUFFER, READONLY_BUFFER]);
                return Ok(());
            }
            if variant == "InBand" {
                return value.serialize(self);
            }
        }
        self.op(EMPTY_DICT);
        self.str(variant);
        value.serialize(&mut *self)?;
        self.op(SETITEM);
        Ok(())
    }
    #[inline]
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::list(self))
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::tuple(self, len, Kind::Tuple(len)))
    }
    #[inline]
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::tuple(self, len, Kind::Tuple(len)))
    }
    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        self.op(EMPTY_DICT);
        self.str(variant);
        Ok(Compound::tuple(self, len, Kind::TupleVariant(len)))
    }
    #[inline]
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::dict(self, Kind::Dict))
    }
    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::dict(self, Kind::Dict))
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, WriteError> {
        self.op(EMPTY_DICT);
        self.str(variant);
        Ok(Compound::dict(self, Kind::StructVariant))
    }
}
