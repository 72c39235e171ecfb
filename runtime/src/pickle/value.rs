//! The values the reader's machine builds: Python's built-ins, numpy arrays, and the few
//! intermediate objects (known reconstructors, dtypes) that only exist while reading.

use std::borrow::Cow;

/// A reconstructor keel knows. Nothing else is ever looked up, imported or called; these are
/// interpreted, not called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// `numpy._core.numeric._frombuffer` (numpy 2) / `numpy.core.numeric._frombuffer` (1.x).
    Frombuffer,
    /// `numpy.dtype`.
    Dtype,
    /// `numpy._core.multiarray._reconstruct` / `numpy.core.multiarray._reconstruct`: arrays of
    /// protocols 2–4 and non-contiguous arrays, data in band.
    Reconstruct,
    /// `numpy.ndarray`, only as `_reconstruct`'s argument.
    Ndarray,
    /// `builtins.bytearray` (protocols 2–4).
    Bytearray,
    /// `builtins.bytes` (protocol 2's empty bytes).
    Bytes,
    /// `builtins.set` (protocols 2–3).
    Set,
    /// `builtins.frozenset` (protocols 2–3).
    Frozenset,
    /// `_codecs.encode` (protocol 2's non-empty bytes: `encode(str, "latin1")`).
    CodecsEncode,
}

impl Known {
    pub(crate) fn lookup(module: &str, name: &str) -> Option<Known> {
        Some(match (module, name) {
            ("numpy._core.numeric" | "numpy.core.numeric", "_frombuffer") => Known::Frombuffer,
            ("numpy", "dtype") => Known::Dtype,
            ("numpy._core.multiarray" | "numpy.core.multiarray", "_reconstruct") => {
                Known::Reconstruct
            }
            ("numpy", "ndarray") => Known::Ndarray,
            ("builtins" | "__builtin__", "bytearray") => Known::Bytearray,
            ("builtins" | "__builtin__", "bytes") => Known::Bytes,
            ("builtins" | "__builtin__", "set") => Known::Set,
            ("builtins" | "__builtin__", "frozenset") => Known::Frozenset,
            ("_codecs", "encode") => Known::CodecsEncode,
            _ => return None,
        })
    }
}

/// A numpy dtype being read: `numpy.dtype(name)` and the byte order its `BUILD` state gives.
#[derive(Clone, Debug)]
pub(crate) struct Dtype {
    pub(crate) name: String,
    pub(crate) order: char,
}

/// A numpy array read from the stream: its data (an out-of-band buffer or in-band bytes) and
/// its description.
#[derive(Clone, Debug)]
pub(crate) struct Array<'de> {
    /// `Value::Buffer`, `Value::Bytes` or `Value::ByteArray`.
    pub(crate) data: Value<'de>,
    /// With byte order: `"<f8"`.
    pub(crate) dtype: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) fortran: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Value<'de> {
    None,
    Bool(bool),
    Int(i64),
    /// An int that needs more than 8 bytes: little-endian two's complement.
    BigInt(Cow<'de, [u8]>),
    Float(f64),
    Str(Cow<'de, str>),
    Bytes(Cow<'de, [u8]>),
    ByteArray(Cow<'de, [u8]>),
    /// The n-th out-of-band buffer.
    Buffer(usize),
    List(Vec<Value<'de>>),
    Tuple(Vec<Value<'de>>),
    Dict(Vec<(Value<'de>, Value<'de>)>),
    Set(Vec<Value<'de>>),
    FrozenSet(Vec<Value<'de>>),
    Array(Box<Array<'de>>),
    /// The value in memo slot n (Python's shared reference).
    Ref(usize),
    Global(Known),
    Dtype(Box<Dtype>),
    /// `_reconstruct(ndarray, (0,), b'b')`, waiting for its `BUILD`.
    PendingArray,
}

impl Value<'_> {
    /// Python's name of the value's type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::Buffer(_) => "PickleBuffer",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Array(_) => "numpy.ndarray",
            Value::Ref(_) => "memo reference",
            Value::Global(_) => "global",
            Value::Dtype(_) => "numpy.dtype",
            Value::PendingArray => "numpy.ndarray under construction",
        }
    }
}

/// Drops `value` without recursion, so that a deeply nested value cannot overflow the stack.
pub(crate) fn discard(value: Value<'_>) {
    let mut work = vec![value];
    while let Some(mut v) = work.pop() {
        match &mut v {
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => work.append(items),
            Value::Dict(pairs) => {
                for (k, v) in pairs.drain(..) {
                    work.push(k);
                    work.push(v);
                }
            }
            Value::Array(a) => work.push(core::mem::replace(&mut a.data, Value::None)),
            _ => {}
        }
    }
}
