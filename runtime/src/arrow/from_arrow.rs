//! Arrow arrays → field values, checked: a null, a wrong type or a value that does not fit the
//! field's type is an error naming the column and the row. Integer fields accept any Arrow
//! integer type (pandas writes `int64` for every integer), string fields any string or
//! dictionary-of-string array.

use super::{ArrowVec, Error};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, Fields};

/// A field type read back from an Arrow column (the reverse of the column kinds).
///
/// ```
/// use arrow_array::{ArrayRef, Int64Array};
/// use keel_runtime::arrow::FromArrow;
/// use std::sync::Arc;
///
/// let array: ArrayRef = Arc::new(Int64Array::from(vec![1, 300]));
/// let error = u8::read(&array, "percent").unwrap_err();
/// assert_eq!(error.to_string(), "column `percent` row 1: 300 does not fit u8");
/// assert_eq!(u16::read(&array, "percent").unwrap(), [1, 300]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from an Arrow column by `keel::arrow`"
)]
pub trait FromArrow: Sized {
    /// Every row of `array` (the column `column`) as a value.
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error>;
}

/// Fails on the first null of `array`.
pub(crate) fn no_nulls(array: &dyn Array, column: &str) -> Result<(), Error> {
    match array.logical_nulls() {
        Some(nulls) if nulls.null_count() > 0 => Err(Error::Null {
            column: column.to_owned(),
            row: nulls.iter().position(|valid| !valid).unwrap_or(0),
        }),
        _ => Ok(()),
    }
}

fn wrong_type(array: &dyn Array, column: &str, expected: &'static str) -> Error {
    Error::WrongType {
        column: column.to_owned(),
        expected,
        found: array.data_type().clone(),
    }
}

/// Every value of an integer array as `i128`, whatever its Arrow integer type.
fn ints(array: &dyn Array, column: &str, expected: &'static str) -> Result<Vec<i128>, Error> {
    no_nulls(array, column)?;
    macro_rules! widen {
        ($($arrow:ty),*) => {$(
            if let Some(array) = array.as_primitive_opt::<$arrow>() {
                return Ok(array.values().iter().map(|&v| v as i128).collect());
            }
        )*};
    }
    widen!(
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    Err(wrong_type(array, column, expected))
}

/// The values of an integer array converted to `T`, each checked.
fn ints_as<T: TryFrom<i128>>(
    array: &dyn Array,
    column: &str,
    target: &'static str,
) -> Result<Vec<T>, Error> {
    let wide = ints(array, column, "an integer")?;
    wide.into_iter()
        .enumerate()
        .map(|(row, value)| {
            T::try_from(value).map_err(|_| Error::OutOfRange {
                column: column.to_owned(),
                row,
                value: value.to_string(),
                target: target.to_owned(),
            })
        })
        .collect()
}

macro_rules! int_from_arrow {
    ($($ty:ident),*) => {$(
        impl FromArrow for $ty {
            fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
                // The exact type is one copy of the values.
                if let Some(same) = array
                    .as_any()
                    .downcast_ref::<arrow_array::PrimitiveArray<int_arrow!($ty)>>()
                {
                    no_nulls(array, column)?;
                    return Ok(same.values().iter().map(|&v| v as $ty).collect());
                }
                ints_as::<$ty>(array, column, stringify!($ty))
            }
        }
    )*};
}

macro_rules! int_arrow {
    (u8) => {
        UInt8Type
    };
    (u16) => {
        UInt16Type
    };
    (u32) => {
        UInt32Type
    };
    (u64) => {
        UInt64Type
    };
    (usize) => {
        UInt64Type
    };
    (i8) => {
        Int8Type
    };
    (i16) => {
        Int16Type
    };
    (i32) => {
        Int32Type
    };
    (i64) => {
        Int64Type
    };
    (isize) => {
        Int64Type
    };
}

int_from_arrow!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! wide_from_arrow {
    ($($ty:ident),*) => {$(
        impl FromArrow for $ty {
            fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
                if let Some(binary) = array.as_fixed_size_binary_opt() {
                    if binary.value_length() == 16 {
                        no_nulls(array, column)?;
                        return Ok(binary
                            .iter()
                            .map(|bytes| {
                                let mut le = [0u8; 16];
                                le.copy_from_slice(bytes.unwrap_or(&[0; 16]));
                                $ty::from_le_bytes(le)
                            })
                            .collect());
                    }
                }
                ints_as::<$ty>(array, column, stringify!($ty))
            }
        }
    )*};
}

wide_from_arrow!(u128, i128);

impl FromArrow for f64 {
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
        no_nulls(array, column)?;
        if let Some(values) = array.as_primitive_opt::<arrow_array::types::Float64Type>() {
            return Ok(values.values().to_vec());
        }
        if let Some(values) = array.as_primitive_opt::<arrow_array::types::Float32Type>() {
            return Ok(values.values().iter().map(|&v| f64::from(v)).collect());
        }
        Err(wrong_type(array, column, "Float64 or Float32"))
    }
}

impl FromArrow for f32 {
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
        no_nulls(array, column)?;
        match array.as_primitive_opt::<arrow_array::types::Float32Type>() {
            Some(values) => Ok(values.values().to_vec()),
            None => Err(wrong_type(array, column, "Float32")),
        }
    }
}

impl FromArrow for bool {
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
        no_nulls(array, column)?;
        match array.as_boolean_opt() {
            Some(values) => Ok(values.values().iter().collect()),
            None => Err(wrong_type(array, column, "Boolean")),
        }
    }
}

impl FromArrow for char {
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
        let codes = ints(array, column, "UInt32 (a char's scalar value)")?;
        codes
            .into_iter()
            .enumerate()
            .map(|(row, code)| {
                u32::try_from(code)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| Error::OutOfRange {
                        column: column.to_owned(),
                        row,
                        value: code.to_string(),
                        target: "char".to_owned(),
                    })
            })
            .collect()
    }
}

/// Calls `each(row, text)` for every row of a string or dictionary-of-string array.
pub(crate) fn for_each_str(
    array: &dyn Array,
    column: &str,
    mut each: impl FnMut(usize, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    const EXPECTED: &str = "Utf8, LargeUtf8, Utf8View or a dictionary of them";
    no_nulls(array, column)?;
    macro_rules! strings {
        ($array:expr) => {{
            for (row, text) in $array.iter().enumerate() {
                each(row, text.unwrap_or_default())?;
            }
            return Ok(());
        }};
    }
    if let Some(array) = array.as_string_opt::<i32>() {
        strings!(array)
    }
    if let Some(array) = array.as_string_opt::<i64>() {
        strings!(array)
    }
    if let Some(array) = array.as_string_view_opt() {
        strings!(array)
    }
    fn keyed<K: ArrowDictionaryKeyType>(
        array: &dyn Array,
        column: &str,
        each: &mut dyn FnMut(usize, &str) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let Some(dictionary) = array.as_dictionary_opt::<K>() else {
            return Ok(false);
        };
        let mut texts: Vec<String> = Vec::with_capacity(dictionary.values().len());
        for_each_str(dictionary.values().as_ref(), column, |_, text| {
            texts.push(text.to_owned());
            Ok(())
        })?;
        for (row, key) in dictionary.keys().values().iter().enumerate() {
            let text = texts.get(key.as_usize()).map(String::as_str);
            each(row, text.unwrap_or_default())?;
        }
        Ok(true)
    }
    if let DataType::Dictionary(..) = array.data_type() {
        macro_rules! keys {
            ($($key:ty),*) => {$(
                if keyed::<$key>(array, column, &mut each)? {
                    return Ok(());
                }
            )*};
        }
        keys!(
            Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        );
    }
    Err(wrong_type(array, column, EXPECTED))
}

impl FromArrow for String {
    fn read(array: &dyn Array, column: &str) -> Result<Vec<Self>, Error> {
        let mut out = Vec::with_capacity(array.len());
        for_each_str(array, column, |_, text| {
            out.push(text.to_owned());
            Ok(())
        })?;
        Ok(out)
    }
}

/// The columns of a batch or of a struct column, looked up by field name; what the generated
/// `ArrowColumns::rows_from_arrays` reads from.
pub struct Columns<'a> {
    prefix: &'a str,
    fields: &'a Fields,
    arrays: &'a [ArrayRef],
    len: usize,
}

impl<'a> Columns<'a> {
    /// The columns `arrays` named by `fields`, each `len` rows; `prefix` is the path of the
    /// struct column they belong to (`""` for a batch).
    ///
    /// ```
    /// use arrow_array::{ArrayRef, UInt32Array};
    /// use arrow_schema::{DataType, Field, Fields};
    /// use keel_runtime::arrow::Columns;
    /// use std::sync::Arc;
    ///
    /// let fields = Fields::from(vec![Field::new("id", DataType::UInt32, false)]);
    /// let arrays: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(vec![7]))];
    /// let columns = Columns::new("", &fields, &arrays, 1);
    /// assert_eq!(columns.read::<u32>("id").unwrap(), [7]);
    /// assert_eq!(
    ///     columns.read::<u32>("name").unwrap_err().to_string(),
    ///     "column `name` is missing: the batch has id"
    /// );
    /// ```
    pub fn new(prefix: &'a str, fields: &'a Fields, arrays: &'a [ArrayRef], len: usize) -> Self {
        Self {
            prefix,
            fields,
            arrays,
            len,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn column(&self, name: &str) -> Result<(&'a dyn Array, String), Error> {
        let path = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        };
        match self.fields.iter().position(|field| field.name() == name) {
            Some(index) => Ok((self.arrays[index].as_ref(), path)),
            None => Err(Error::MissingColumn {
                column: path,
                found: self
                    .fields
                    .iter()
                    .map(|field| field.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The column `name`, read as `T` values.
    pub fn read<T: FromArrow>(&self, name: &str) -> Result<Vec<T>, Error> {
        let (array, path) = self.column(name)?;
        T::read(array, &path)
    }

    /// The column `name`, read as rows of a nested `Compact` type whose container is `V`.
    pub fn rows<V: ArrowVec>(&self, name: &str) -> Result<Vec<V::Row>, Error> {
        let (array, path) = self.column(name)?;
        V::rows_from_array(array, &path)
    }
}
