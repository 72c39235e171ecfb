//! [`NdArray`]: a typed, shaped column that pickles as a numpy `ndarray` (numpy's own
//! protocol-5 reduction, data out of band) and reads back from one without copying.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::error::PickleError;
use crate::buffer::Buffer;

/// The newtype-struct name [`NdArray`] serializes under; the pickle writer and reader know it.
pub(crate) const NDARRAY_TOKEN: &str = "__keel_pickle_ndarray";
/// The newtype-struct name of a dtype string (`"<f8"`) inside an [`NdArray`].
pub(crate) const DTYPE_TOKEN: &str = "__keel_pickle_dtype";
std::thread_local! {
    static HANDOVER: core::cell::Cell<Option<Handed>> = const { core::cell::Cell::new(None) };
}

/// An array the pickle reader parsed, handed to [`NdArray`]'s visitor whole (its
/// `visit_unit`) rather than piece by piece through serde: no decode-scope bookkeeping, no
/// strings or shapes deserialized.
pub(crate) struct Handed {
    data: Buffer,
    dtype: Text,
    shape: Shape,
    order: Option<Order>,
}

/// Hands `data` (dtype, shape, order as numpy wrote them) to the [`NdArray`] visitor the
/// caller calls `visit_unit` on next; `None` if the description does not fit.
pub(crate) fn hand_over(data: Buffer, dtype: &[u8], dims: &[u64], order: &[u8]) -> Option<()> {
    let mut shape = [0usize; 4];
    let shape = if dims.len() <= 4 {
        for (s, &d) in shape.iter_mut().zip(dims) {
            *s = usize::try_from(d).ok()?;
        }
        Shape::Inline(dims.len() as u8, shape)
    } else {
        Shape::Heap(
            dims.iter()
                .map(|&d| usize::try_from(d).ok())
                .collect::<Option<_>>()?,
        )
    };
    let handed = Handed {
        data,
        dtype: Text::new(dtype)?,
        shape,
        order: Order::parse(order),
    };
    HANDOVER.with(|slot| slot.set(Some(handed)));
    Some(())
}

mod sealed {
    pub trait Sealed {}
}

/// A numeric element type numpy knows: `u8`..`u64`, `i8`..`i64`, `f32`, `f64`.
///
/// ```
/// use keel_runtime::pickle::Element;
/// assert_eq!(<f64 as Element>::DTYPE, "f8");
/// assert_eq!(<u16 as Element>::DTYPE, "u2");
/// ```
pub trait Element:
    FromBytes + IntoBytes + Immutable + Copy + Send + Sync + 'static + sealed::Sealed
{
    /// numpy's name of the type without byte order (`"f8"`, `"i4"`, `"u1"`).
    const DTYPE: &'static str;
    /// The same with this machine's byte order (`"<f8"`, `"|u1"`), as [`NdArray::dtype`].
    #[doc(hidden)]
    const NATIVE_DTYPE: &'static str;
}

macro_rules! element {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: &'static str = $name;
            const NATIVE_DTYPE: &'static str = if core::mem::size_of::<$t>() == 1 {
                concat!("|", $name)
            } else if cfg!(target_endian = "little") {
                concat!("<", $name)
            } else {
                concat!(">", $name)
            };
        }
    )*};
}

element!(u8 => "u1", i8 => "i1", u16 => "u2", i16 => "i2", u32 => "u4", i32 => "i4",
    u64 => "u8", i64 => "i8", f32 => "f4", f64 => "f8");

/// Memory order of a multi-dimensional [`NdArray`]: numpy's `order=` argument.
///
/// ```
/// use keel_runtime::pickle::{NdArray, Order};
/// let a = NdArray::from_vec(vec![1u8, 2, 3, 4, 5, 6]).reshape(&[3, 2], Order::Fortran)?;
/// assert_eq!(a.order(), Order::Fortran);
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Row-major (`'C'`): the last index varies fastest. numpy's default.
    #[default]
    C,
    /// Column-major (`'F'`): the first index varies fastest.
    Fortran,
}

impl Order {
    /// numpy's `'C'` or `'F'`.
    fn parse(order: &[u8]) -> Option<Self> {
        match order {
            b"C" => Some(Order::C),
            b"F" => Some(Order::Fortran),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Order::C => "C",
            Order::Fortran => "F",
        }
    }
}

/// A shape; up to four dimensions without an allocation.
#[derive(Clone, PartialEq, Eq)]
enum Shape {
    Inline(u8, [usize; 4]),
    Heap(Vec<usize>),
}

impl Shape {
    fn new(dims: &[usize]) -> Self {
        match dims.len() {
            n @ 0..=4 => {
                let mut inline = [0; 4];
                inline[..n].copy_from_slice(dims);
                Shape::Inline(n as u8, inline)
            }
            _ => Shape::Heap(dims.to_vec()),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Shape::Inline(n, dims) => &dims[..usize::from(*n)],
            Shape::Heap(dims) => dims,
        }
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a numpy shape (a tuple of ints)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut inline = [0usize; 4];
                let mut n = 0;
                while let Some(d) = seq.next_element::<usize>()? {
                    if n == 4 {
                        let mut dims = inline.to_vec();
                        dims.push(d);
                        while let Some(d) = seq.next_element::<usize>()? {
                            dims.push(d);
                        }
                        return Ok(Shape::Heap(dims));
                    }
                    inline[n] = d;
                    n += 1;
                }
                Ok(Shape::Inline(n as u8, inline))
            }
        }
        deserializer.deserialize_seq(ShapeVisitor)
    }
}

/// A short string (a dtype like `"<f8"`, an order `"C"`) read without an allocation.
struct Text {
    len: u8,
    buf: [u8; 16],
}

impl Text {
    fn new(v: &[u8]) -> Option<Self> {
        let mut buf = [0u8; 16];
        buf.get_mut(..v.len())?.copy_from_slice(v);
        Some(Text {
            len: v.len() as u8,
            buf,
        })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a numpy dtype or order string of at most 16 bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Text::new(v.as_bytes())
                    .ok_or_else(|| E::custom(format!("{v:?} is longer than 16 bytes")))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[derive(Clone)]
enum Data<'a, T> {
    Shared(Buffer),
    Borrowed(&'a [T]),
}

/// A contiguous numeric array with a shape: a numpy `ndarray` on the Python side.
///
/// Over a [`Buffer`] (a `Vec<T>` given to [`NdArray::from_vec`], a shared-memory segment, any
/// `Buffer` whose address suits `T`) it pickles with its data out of band, not copied; Python
/// gets `numpy._core.numeric._frombuffer(buffer, dtype, shape, order)`, an array over that
/// very memory. Over a borrowed slice ([`NdArray::from_slice`]) the data is copied once into
/// the frames, since [`Frames`](super::Frames) owns its buffers.
///
/// Read back with [`from_frames`](super::from_frames) (`NdArray<'static, T>` is
/// `Deserialize`), it shares the out-of-band buffer it came from. The element type must match
/// the array's dtype exactly and be in native byte order; anything else is an error naming
/// both.
///
/// ```
/// use keel_runtime::pickle::{from_frames, to_frames, NdArray};
///
/// let column = NdArray::from_vec(vec![0.5f64, 1.5, 2.5]);
/// let frames = to_frames(&column)?;
/// assert_eq!(frames.buffers[0].as_ptr(), column.as_slice().as_ptr().cast()); // not copied
///
/// let back: NdArray<'static, f64> = from_frames(&frames.inband, &frames.buffers)?;
/// assert_eq!(back.as_slice(), [0.5, 1.5, 2.5]);
/// assert_eq!(back.as_slice().as_ptr(), column.as_slice().as_ptr()); // not copied either
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Clone)]
pub struct NdArray<'a, T: Element> {
    data: Data<'a, T>,
    shape: Shape,
    order: Order,
}

/// The owner that lets a `Vec<T>` become a `Buffer` without a copy.
struct VecBytes<T>(Vec<T>);

impl<T: Element> AsRef<[u8]> for VecBytes<T> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl<'a, T: Element> NdArray<'a, T> {
    /// A 1-D array that takes ownership of `values` without copying them.
    ///
    /// ```
    /// let a = keel_runtime::pickle::NdArray::from_vec(vec![1i32, 2, 3]);
    /// assert_eq!(a.shape(), [3]);
    /// ```
    pub fn from_vec(values: Vec<T>) -> NdArray<'static, T> {
        let len = values.len();
        NdArray {
            data: Data::Shared(Buffer::from_owner(VecBytes(values))),
            shape: Shape::new(&[len]),
            order: Order::C,
        }
    }

    /// A 1-D array over borrowed values (copied once when pickled).
    ///
    /// ```
    /// let values = [1u16, 2, 3];
    /// let a = keel_runtime::pickle::NdArray::from_slice(&values);
    /// assert_eq!(a.as_slice(), values);
    /// ```
    pub fn from_slice(values: &'a [T]) -> Self {
        NdArray {
            data: Data::Borrowed(values),
            shape: Shape::new(&[values.len()]),
            order: Order::C,
        }
    }

    /// A 1-D array over the bytes of `buffer`, without copying: they must be aligned for `T`
    /// and a whole number of `T`s.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// use keel_runtime::pickle::NdArray;
    /// let bytes = Buffer::from(1.0f64.to_ne_bytes().repeat(4));
    /// let a = NdArray::<f64>::from_buffer(bytes.clone())?;
    /// assert_eq!(a.as_slice(), [1.0; 4]);
    /// assert!(NdArray::<f64>::from_buffer(bytes.slice(1..9)).is_err()); // misaligned
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn from_buffer(buffer: Buffer) -> Result<NdArray<'static, T>, PickleError> {
        let len = buffer
            .cast::<T>()
            .map_err(|e| PickleError::Array(e.to_string()))?
            .len();
        Ok(NdArray {
            data: Data::Shared(buffer),
            shape: Shape::new(&[len]),
            order: Order::C,
        })
    }

    /// The same data with another shape and order; the shape's product must be the length.
    ///
    /// ```
    /// use keel_runtime::pickle::{NdArray, Order};
    /// let a = NdArray::from_vec(vec![0.0f32; 6]).reshape(&[2, 3], Order::C)?;
    /// assert_eq!(a.shape(), [2, 3]);
    /// assert!(a.reshape(&[4, 2], Order::C).is_err());
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn reshape(self, shape: &[usize], order: Order) -> Result<Self, PickleError> {
        let len = self.as_slice().len();
        let product = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&p| p == len);
        if product.is_none() {
            return Err(PickleError::Array(format!(
                "shape {shape:?} does not hold {len} elements"
            )));
        }
        Ok(Self {
            data: self.data,
            shape: Shape::new(shape),
            order,
        })
    }

    /// The elements in memory order.
    ///
    /// ```
    /// let a = keel_runtime::pickle::NdArray::from_vec(vec![7u8]);
    /// assert_eq!(a.as_slice(), [7]);
    /// ```
    pub fn as_slice(&self) -> &[T] {
        match &self.data {
            // `Shared` is only built from a buffer that `cast` accepted.
            Data::Shared(b) => b.cast().unwrap_or_default(),
            Data::Borrowed(s) => s,
        }
    }

    /// The shape (numpy's `a.shape`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::pickle::NdArray::from_vec(vec![1u8; 4]).shape(), [4]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// The memory order.
    ///
    /// ```
    /// use keel_runtime::pickle::{NdArray, Order};
    /// assert_eq!(NdArray::from_vec(vec![1u8]).order(), Order::C);
    /// ```
    pub fn order(&self) -> Order {
        self.order
    }

    /// The `Buffer` the data lives in, when it is not borrowed.
    ///
    /// ```
    /// let a = keel_runtime::pickle::NdArray::from_vec(vec![1u32, 2]);
    /// assert_eq!(a.buffer().map(|b| b.len()), Some(8));
    /// ```
    pub fn buffer(&self) -> Option<&Buffer> {
        match &self.data {
            Data::Shared(b) => Some(b),
            Data::Borrowed(_) => None,
        }
    }

    /// numpy's dtype string of this array, with byte order (`"<f8"`, `"|u1"`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::pickle::NdArray::from_vec(vec![1u8]).dtype(), "|u1");
    /// ```
    pub fn dtype(&self) -> String {
        T::NATIVE_DTYPE.to_string()
    }
}

impl<T: Element + fmt::Debug> fmt::Debug for NdArray<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NdArray")
            .field("dtype", &self.dtype())
            .field("shape", &self.shape())
            .field("order", &self.order)
            .field("data", &self.as_slice())
            .finish()
    }
}

impl<T: Element + PartialEq> PartialEq for NdArray<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape
            && self.order == other.order
            && self.as_slice() == other.as_slice()
    }
}

/// A shape, as the tuple numpy writes.
struct ShapeTuple<'a>(&'a [usize]);

impl Serialize for ShapeTuple<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for d in self.0 {
            t.serialize_element(d)?;
        }
        t.end()
    }
}

struct DtypeStr(&'static str);

impl Serialize for DtypeStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(DTYPE_TOKEN, self.0)
    }
}

impl<T: Element> Serialize for NdArray<'_, T> {
    /// Inside [`to_frames`](super::to_frames): numpy's reconstruction, data out of band. In any
    /// other serde format: the tuple `(bytes, dtype, shape, order)`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Payload<'b>(&'b Buffer, &'static str, &'b [usize], Order);
        impl Serialize for Payload<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut t = serializer.serialize_tuple(4)?;
                t.serialize_element(self.0)?;
                t.serialize_element(&DtypeStr(self.1))?;
                t.serialize_element(&ShapeTuple(self.2))?;
                t.serialize_element(self.3.as_str())?;
                t.end()
            }
        }
        let copied;
        let buffer = match &self.data {
            Data::Shared(b) => b,
            Data::Borrowed(s) => {
                copied = Buffer::copy_from_slice(s.as_bytes());
                &copied
            }
        };
        let payload = Payload(buffer, T::NATIVE_DTYPE, self.shape.as_slice(), self.order);
        serializer.serialize_newtype_struct(NDARRAY_TOKEN, &payload)
    }
}

impl<'de, T: Element> Deserialize<'de> for NdArray<'static, T> {
    /// From a numpy array read by [`from_frames`](super::from_frames) (sharing its buffer), or
    /// from the `(bytes, dtype, shape, order)` tuple of other formats.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(NDARRAY_TOKEN, ArrayVisitor(PhantomData))
    }
}

struct ArrayVisitor<T>(PhantomData<T>);

impl<'de, T: Element> Visitor<'de> for ArrayVisitor<T> {
    type Value = NdArray<'static, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a numpy array of {}", T::DTYPE)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(4, self)
    }

    /// The pickle reader's [`hand_over`].
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        match HANDOVER.with(core::cell::Cell::take) {
            Some(h) => {
                build(h.data, h.dtype.as_bytes(), h.shape, h.order).map_err(de::Error::custom)
            }
            None => Err(E::custom("no numpy array was handed over")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let missing = || de::Error::custom("a numpy array needs (data, dtype, shape, order)");
        let data: Buffer = seq.next_element()?.ok_or_else(missing)?;
        let dtype: Text = seq.next_element()?.ok_or_else(missing)?;
        let shape: Shape = seq.next_element()?.ok_or_else(missing)?;
        let order: Text = seq.next_element()?.ok_or_else(missing)?;
        build(
            data,
            dtype.as_bytes(),
            shape,
            Order::parse(order.as_bytes()),
        )
        .map_err(de::Error::custom)
    }
}

/// Checks a numpy array's description against `T` and views (or, if misaligned, copies) it.
fn build<T: Element>(
    data: Buffer,
    dtype: &[u8],
    shape: Shape,
    order: Option<Order>,
) -> Result<NdArray<'static, T>, PickleError> {
    let want = T::NATIVE_DTYPE.as_bytes();
    let same = dtype == want
        || (dtype.len() == want.len() && dtype.starts_with(b"=") && dtype[1..] == want[1..]);
    let dtype = || String::from_utf8_lossy(dtype);
    if !same {
        return Err(PickleError::Array(format!(
            "dtype {} does not match the requested element type {} ({})",
            dtype(),
            core::any::type_name::<T>(),
            T::NATIVE_DTYPE
        )));
    }
    let Some(order) = order else {
        return Err(PickleError::Array("order must be 'C' or 'F'".into()));
    };
    let size = core::mem::size_of::<T>();
    let dims = shape.as_slice();
    let elements = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if elements.and_then(|n| n.checked_mul(size)) != Some(data.len()) {
        let shape = dims;
        return Err(PickleError::Array(format!(
            "shape {shape:?} of {} needs {} bytes, the data has {}",
            dtype(),
            elements.map_or("more than usize::MAX".into(), |n| (n as u128
                * size as u128)
                .to_string()),
            data.len()
        )));
    }
    // The length is a whole number of `T`s (checked above): only the address may not suit.
    let data = if data.cast::<T>().is_ok() {
        Data::Shared(data)
    } else {
        // Misaligned (in-band data inside the pickle): one copy into an aligned vector.
        let copy: Vec<T> = data
            .chunks_exact(size)
            .map(|c| T::read_from_bytes(c).unwrap_or_else(|_| unreachable_elem()))
            .collect();
        Data::Shared(Buffer::from_owner(VecBytes(copy)))
    };
    Ok(NdArray { data, shape, order })
}

#[cold]
fn unreachable_elem<T: Element>() -> T {
    // `chunks_exact(size_of::<T>())` yields exactly-sized chunks, which `read_from_bytes`
    // always accepts; a zeroed value keeps this path panic-free all the same.
    T::new_zeroed()
}
