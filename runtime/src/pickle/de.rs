//! A serde `Deserializer` over the reader's values.

use core::cell::Cell;
use std::borrow::Cow;

use serde::de::value::{
    BorrowedBytesDeserializer, BytesDeserializer, StrDeserializer, U32Deserializer,
};
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use super::MAX_DEPTH;
use super::error::PickleError;
use super::numpy::NDARRAY_TOKEN;
use super::value::{Array, Value};
use crate::buffer::Buffer;

type Result<T> = core::result::Result<T, PickleError>;

/// What every value being deserialized shares: the memo its references point into, the
/// out-of-band buffers, and the work budget.
pub(crate) struct Ctx<'c, 'de> {
    pub(crate) memo: &'c [Option<Value<'de>>],
    pub(crate) buffers: &'c [Buffer],
    pub(crate) budget: Cell<usize>,
}

impl<'c, 'de> Ctx<'c, 'de> {
    #[inline]
    fn charge(&self) -> Result<()> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(PickleError::Limit(
                "shared references expand to more values than 64 per input byte".into(),
            )),
        }
    }

    #[inline]
    fn resolve<'v>(&'v self, mut v: &'v Value<'de>) -> Result<&'v Value<'de>> {
        let mut hops = 0;
        while let Value::Ref(i) = v {
            hops += 1;
            if hops > self.memo.len() {
                return Err(PickleError::Limit("memo references form a cycle".into()));
            }
            v = self
                .memo
                .get(*i)
                .and_then(Option::as_ref)
                .ok_or_else(|| PickleError::Limit(format!("memo slot {i} is empty")))?;
        }
        Ok(v)
    }
}

pub(crate) struct De<'v, 'c, 'de> {
    pub(crate) v: &'v Value<'de>,
    pub(crate) cx: &'c Ctx<'c, 'de>,
    pub(crate) depth: usize,
}

impl<'v, 'c: 'v, 'de> De<'v, 'c, 'de> {
    #[inline]
    fn value(&self) -> Result<&'v Value<'de>> {
        self.cx.charge()?;
        self.cx.resolve(self.v)
    }

    #[inline]
    fn deeper(&self) -> Result<usize> {
        if self.depth >= MAX_DEPTH {
            return Err(PickleError::Limit(format!(
                "nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(self.depth + 1)
    }

    #[inline]
    fn child(&self, v: &'v Value<'de>) -> Result<De<'v, 'c, 'de>> {
        Ok(De {
            v,
            cx: self.cx,
            depth: self.deeper()?,
        })
    }

    fn seq<V: Visitor<'de>>(self, items: &'v [Value<'de>], visitor: V) -> Result<V::Value> {
        let mut seq = Seq {
            cx: self.cx,
            depth: self.deeper()?,
            items: items.iter(),
        };
        let value = visitor.visit_seq(&mut seq)?;
        match seq.items.len() {
            0 => Ok(value),
            n => Err(PickleError::Type(format!(
                "{n} more items than the type reads"
            ))),
        }
    }

    fn map<V: Visitor<'de>>(
        self,
        pairs: &'v [(Value<'de>, Value<'de>)],
        visitor: V,
    ) -> Result<V::Value> {
        let mut map = Map {
            cx: self.cx,
            depth: self.deeper()?,
            pairs: pairs.iter(),
            value: None,
        };
        let value = visitor.visit_map(&mut map)?;
        match map.pairs.len() {
            0 => Ok(value),
            n => Err(PickleError::Type(format!(
                "{n} more dict entries than the type reads"
            ))),
        }
    }

    fn array_seq<V: Visitor<'de>>(self, array: &'v Array<'de>, visitor: V) -> Result<V::Value> {
        let data: &[u8] = match &array.data {
            Value::Buffer(i) => self.cx.buffers.get(*i).map(|b| &b[..]).unwrap_or_default(),
            Value::Bytes(b) | Value::ByteArray(b) => b,
            _ => &[],
        };
        let Some(kind) = ElementKind::parse(&array.dtype) else {
            return Err(PickleError::Array(format!(
                "dtype {} cannot be read as a sequence of numbers",
                array.dtype
            )));
        };
        let count = array
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        if count.and_then(|c| c.checked_mul(kind.size)) != Some(data.len()) {
            return Err(PickleError::Array(format!(
                "shape {:?} of {} does not match {} bytes of data",
                array.shape,
                array.dtype,
                data.len()
            )));
        }
        visitor.visit_seq(ArraySeq {
            kind,
            chunks: data.chunks_exact(kind.size),
        })
    }
}

/// An int wider than 8 bytes (little-endian two's complement), handed to `visitor` as the
/// narrowest of `i64`, `u64`, `i128` and `u128` that holds it.
pub(crate) fn big_int<'de, V: Visitor<'de>, E: de::Error>(
    bytes: &[u8],
    visitor: V,
) -> core::result::Result<V::Value, E> {
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let mut n = bytes.len();
    while n > 0 && bytes[n - 1] == fill {
        n -= 1;
    }
    // Keep one sign byte when the highest remaining bit disagrees with the sign.
    let significant = if n > 0 && ((bytes[n - 1] & 0x80 != 0) != negative) {
        n + 1
    } else {
        n.max(1)
    };
    if significant <= 16 {
        let mut le = [fill; 16];
        le[..n.min(16)].copy_from_slice(&bytes[..n.min(16)]);
        let v = i128::from_le_bytes(le);
        if let Ok(v) = i64::try_from(v) {
            return visitor.visit_i64(v);
        }
        if let Ok(v) = u64::try_from(v) {
            return visitor.visit_u64(v);
        }
        return visitor.visit_i128(v);
    }
    if !negative && n <= 16 {
        let mut le = [0u8; 16];
        le[..n].copy_from_slice(&bytes[..n]);
        return visitor.visit_u128(u128::from_le_bytes(le));
    }
    Err(E::custom(format_args!(
        "an int of {} bytes does not fit in 128 bits",
        bytes.len()
    )))
}

impl<'v, 'c: 'v, 'de> de::Deserializer<'de> for De<'v, 'c, 'de> {
    type Error = PickleError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value()? {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::BigInt(b) => big_int(b, visitor),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
            Value::Str(Cow::Owned(s)) => visitor.visit_str(s),
            Value::Bytes(Cow::Borrowed(b)) | Value::ByteArray(Cow::Borrowed(b)) => {
                visitor.visit_borrowed_bytes(b)
            }
            Value::Bytes(Cow::Owned(b)) | Value::ByteArray(Cow::Owned(b)) => visitor.visit_bytes(b),
            Value::Buffer(i) => match self.cx.buffers.get(*i) {
                Some(b) => visitor.visit_bytes(b),
                None => Err(PickleError::Type(format!("no out-of-band buffer {i}"))),
            },
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => self.seq(items, visitor),
            Value::Dict(pairs) => self.map(pairs, visitor),
            Value::Array(array) => self.array_seq(array, visitor),
            other => Err(PickleError::Type(format!(
                "a {} is not a value",
                other.type_name()
            ))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.cx.resolve(self.v)? {
            Value::None => {
                self.cx.charge()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value()? {
            Value::None => visitor.visit_unit(),
            Value::Tuple(items) if items.is_empty() => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == NDARRAY_TOKEN
            && let Value::Array(a) = self.value()?
        {
            {
                let order = if a.fortran { "F" } else { "C" };
                let shape = a.shape.iter().map(|&d| Value::Int(d as i64)).collect();
                let parts = Value::Tuple(vec![
                    a.data.clone(),
                    Value::Str(Cow::Owned(a.dtype.clone())),
                    Value::Tuple(shape),
                    Value::Str(Cow::Borrowed(order)),
                ]);
                let de = De {
                    v: &parts,
                    cx: self.cx,
                    depth: self.depth,
                };
                return visitor.visit_newtype_struct(de);
            }
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value()? {
            Value::Bytes(b) | Value::ByteArray(b) => visitor.visit_seq(ByteSeq(b.iter())),
            Value::Buffer(i) => match self.cx.buffers.get(*i) {
                Some(b) => visitor.visit_seq(ByteSeq(b.iter())),
                None => Err(PickleError::Type(format!("no out-of-band buffer {i}"))),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let v = self.value()?;
        if crate::oob::is_buffer_enum(name, variants) {
            return buffer_enum(v, self.cx, visitor);
        }
        match v {
            Value::Str(s) => visitor.visit_enum(StrDeserializer::<PickleError>::new(s)),
            Value::Dict(pairs) if pairs.len() == 1 => {
                let (k, value) = &pairs[0];
                visitor.visit_enum(Variant {
                    key: self.child(k)?,
                    value: self.child(value)?,
                })
            }
            other => Err(PickleError::Type(format!(
                "enum {name} must be a str or a one-entry dict, got {}",
                other.type_name()
            ))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf map struct identifier
    }
}

/// `keel::buffer::Buffer`'s out-of-band form (see `keel::oob`): an out-of-band buffer (or a
/// numpy array's) is handed over without a copy, anything bytes-like in band.
fn buffer_enum<'de, V: Visitor<'de>>(
    v: &Value<'de>,
    cx: &Ctx<'_, 'de>,
    visitor: V,
) -> Result<V::Value> {
    let v = match v {
        Value::Array(a) => cx.resolve(&a.data)?,
        v => v,
    };
    match v {
        Value::Buffer(i) => {
            let buffer = cx
                .buffers
                .get(*i)
                .ok_or_else(|| PickleError::Type(format!("no out-of-band buffer {i}")))?;
            let index = crate::oob::push_decode_buffer(buffer.clone())
                .ok_or_else(|| PickleError::Type("too many out-of-band buffers".into()))?;
            visitor.visit_enum(BufferVariant::OutOfBand(index))
        }
        Value::Bytes(Cow::Borrowed(b)) | Value::ByteArray(Cow::Borrowed(b)) => {
            visitor.visit_enum(BufferVariant::InBand(b))
        }
        Value::Bytes(Cow::Owned(b)) | Value::ByteArray(Cow::Owned(b)) => {
            visitor.visit_enum(BufferVariant::Owned(b))
        }
        other => Err(PickleError::Type(format!(
            "expected bytes or a buffer, got {}",
            other.type_name()
        ))),
    }
}

pub(crate) enum BufferVariant<'a, 'de> {
    OutOfBand(u32),
    InBand(&'de [u8]),
    Owned(&'a [u8]),
}

impl<'a, 'de> EnumAccess<'de> for BufferVariant<'a, 'de> {
    type Error = PickleError;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let index = u32::from(matches!(self, BufferVariant::OutOfBand(_)));
        let v = seed.deserialize(U32Deserializer::<PickleError>::new(index))?;
        Ok((v, self))
    }
}

impl<'a, 'de> VariantAccess<'de> for BufferVariant<'a, 'de> {
    type Error = PickleError;
    fn unit_variant(self) -> Result<()> {
        Err(PickleError::Type("a Buffer is not a unit".into()))
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        match self {
            BufferVariant::OutOfBand(i) => seed.deserialize(U32Deserializer::new(i)),
            BufferVariant::InBand(b) => seed.deserialize(BorrowedBytesDeserializer::new(b)),
            BufferVariant::Owned(b) => seed.deserialize(BytesDeserializer::new(b)),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(PickleError::Type("a Buffer is not a tuple".into()))
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(PickleError::Type("a Buffer is not a struct".into()))
    }
}

struct Variant<'v, 'c, 'de> {
    key: De<'v, 'c, 'de>,
    value: De<'v, 'c, 'de>,
}

impl<'v, 'c: 'v, 'de> EnumAccess<'de> for Variant<'v, 'c, 'de> {
    type Error = PickleError;
    type Variant = De<'v, 'c, 'de>;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant)> {
        Ok((seed.deserialize(self.key)?, self.value))
    }
}

impl<'v, 'c: 'v, 'de> VariantAccess<'de> for De<'v, 'c, 'de> {
    type Error = PickleError;
    fn unit_variant(self) -> Result<()> {
        match self.value()? {
            Value::None => Ok(()),
            other => Err(PickleError::Type(format!(
                "a unit variant's value must be None, got {}",
                other.type_name()
            ))),
        }
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

struct Seq<'v, 'c, 'de> {
    cx: &'c Ctx<'c, 'de>,
    depth: usize,
    items: core::slice::Iter<'v, Value<'de>>,
}

impl<'v, 'c: 'v, 'de> SeqAccess<'de> for Seq<'v, 'c, 'de> {
    type Error = PickleError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.items.next() {
            Some(v) => seed
                .deserialize(De {
                    v,
                    cx: self.cx,
                    depth: self.depth,
                })
                .map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'v, 'c, 'de> {
    cx: &'c Ctx<'c, 'de>,
    depth: usize,
    pairs: core::slice::Iter<'v, (Value<'de>, Value<'de>)>,
    value: Option<&'v Value<'de>>,
}

impl<'v, 'c: 'v, 'de> MapAccess<'de> for Map<'v, 'c, 'de> {
    type Error = PickleError;
    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.pairs.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(De {
                    v: k,
                    cx: self.cx,
                    depth: self.depth,
                })
                .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        let v = self
            .value
            .take()
            .ok_or_else(|| PickleError::Type("a dict value without its key".into()))?;
        seed.deserialize(De {
            v,
            cx: self.cx,
            depth: self.depth,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

struct ByteSeq<'a>(core::slice::Iter<'a, u8>);

impl<'de> SeqAccess<'de> for ByteSeq<'_> {
    type Error = PickleError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.0.next() {
            Some(&b) => seed.deserialize(b.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The numeric dtypes a numpy array's elements can be read as one by one.
#[derive(Clone, Copy)]
struct ElementKind {
    kind: u8,
    size: usize,
    big_endian: bool,
}

impl ElementKind {
    fn parse(dtype: &str) -> Option<Self> {
        let bytes = dtype.as_bytes();
        let (&order, rest) = bytes.split_first()?;
        let (&kind, size) = rest.split_first()?;
        let size: usize = core::str::from_utf8(size).ok()?.parse().ok()?;
        let big_endian = match order {
            b'>' => true,
            b'<' | b'|' => false,
            b'=' => cfg!(target_endian = "big"),
            _ => return None,
        };
        let ok = match kind {
            b'i' | b'u' => matches!(size, 1 | 2 | 4 | 8),
            b'f' => matches!(size, 4 | 8),
            b'b' => size == 1,
            _ => false,
        };
        ok.then_some(Self {
            kind,
            size,
            big_endian,
        })
    }
}

struct ArraySeq<'a> {
    kind: ElementKind,
    chunks: core::slice::ChunksExact<'a, u8>,
}

impl<'de> SeqAccess<'de> for ArraySeq<'_> {
    type Error = PickleError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        let Some(chunk) = self.chunks.next() else {
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        let k = self.kind;
        if k.big_endian {
            raw[..k.size].copy_from_slice(chunk);
            raw[..k.size].reverse();
        } else {
            raw[..k.size].copy_from_slice(chunk);
        }
        let unsigned = u64::from_le_bytes(raw);
        let shift = 64 - 8 * k.size as u32;
        let v = match (k.kind, k.size) {
            (b'b', _) => seed.deserialize((unsigned != 0).into_deserializer()),
            (b'u', _) => seed.deserialize(unsigned.into_deserializer()),
            (b'i', _) => {
                seed.deserialize((((unsigned << shift) as i64) >> shift).into_deserializer())
            }
            (b'f', 4) => {
                seed.deserialize(f64::from(f32::from_bits(unsigned as u32)).into_deserializer())
            }
            _ => seed.deserialize(f64::from_bits(unsigned).into_deserializer()),
        };
        v.map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.chunks.len())
    }
}
