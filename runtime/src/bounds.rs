//! Value ranges checked at run time: the runtime half of `#[derive(Bounded)]`.
//!
//! [`Bounds<T>`] is the range written in `#[bounded(..)]`, kept as data so that code can inspect
//! it (`NetworkConfig::PORT_BOUNDS.contains(&80)`); [`BoundsError`] is what every failed check
//! returns. Both work without the macros:
//!
//! ```
//! use keel_runtime::bounds::Bounds;
//!
//! const PERCENT: Bounds<u8> = Bounds::inclusive(0, 100);
//! assert!(PERCENT.check(42, "Progress", Some("percent")).is_ok());
//! let err = PERCENT.check(120, "Progress", Some("percent")).unwrap_err();
//! assert_eq!(err.to_string(), "Progress.percent must be <= 100, got 120");
//! ```

use core::fmt;
use core::ops::{Bound, RangeBounds};

/// A range of allowed values: a lower and an upper [`Bound`], each of which may be open.
///
/// Built by the macros from Rust range syntax (`1..=65535`, `..50`, `0.0..`), or by hand with the
/// `const` constructors. It implements [`RangeBounds`], so the standard
/// [`RangeBounds::contains`] works, and [`Display`](fmt::Display) prints it back as Rust range
/// syntax.
///
/// ```
/// use keel_runtime::bounds::Bounds;
/// use std::ops::RangeBounds;
///
/// let b = Bounds::half_open(0.0_f64, 1.0);
/// assert!(b.contains(&0.5));
/// assert!(!b.contains(&1.0));
/// assert!(!b.contains(&f64::NAN));
/// assert_eq!(b.to_string(), "0.0..1.0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds<T> {
    lower: Bound<T>,
    upper: Bound<T>,
}

impl<T> Bounds<T> {
    /// Bounds from two explicit [`Bound`]s.
    ///
    /// ```
    /// use keel_runtime::bounds::Bounds;
    /// use std::ops::Bound;
    /// let b = Bounds::new(Bound::Excluded(0), Bound::Unbounded);
    /// assert_eq!(b.to_string(), "(exclusive 0)..");
    /// ```
    pub const fn new(lower: Bound<T>, upper: Bound<T>) -> Self {
        Self { lower, upper }
    }

    /// `lo..=hi`.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// assert_eq!(Bounds::inclusive(1, 65535).to_string(), "1..=65535");
    /// ```
    pub const fn inclusive(lo: T, hi: T) -> Self {
        Self::new(Bound::Included(lo), Bound::Included(hi))
    }

    /// `lo..hi`.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// assert_eq!(Bounds::half_open(0, 10).to_string(), "0..10");
    /// ```
    pub const fn half_open(lo: T, hi: T) -> Self {
        Self::new(Bound::Included(lo), Bound::Excluded(hi))
    }

    /// `lo..`.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// assert_eq!(Bounds::at_least(5).to_string(), "5..");
    /// ```
    pub const fn at_least(lo: T) -> Self {
        Self::new(Bound::Included(lo), Bound::Unbounded)
    }

    /// `..=hi`.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// assert_eq!(Bounds::at_most(50).to_string(), "..=50");
    /// ```
    pub const fn at_most(hi: T) -> Self {
        Self::new(Bound::Unbounded, Bound::Included(hi))
    }

    /// `..hi`.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// assert_eq!(Bounds::below(50).to_string(), "..50");
    /// ```
    pub const fn below(hi: T) -> Self {
        Self::new(Bound::Unbounded, Bound::Excluded(hi))
    }

    /// The lower bound.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// # use std::ops::Bound;
    /// assert_eq!(Bounds::inclusive(1, 9).lower(), Bound::Included(&1));
    /// ```
    pub const fn lower(&self) -> Bound<&T> {
        match &self.lower {
            Bound::Included(v) => Bound::Included(v),
            Bound::Excluded(v) => Bound::Excluded(v),
            Bound::Unbounded => Bound::Unbounded,
        }
    }

    /// The upper bound.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// # use std::ops::Bound;
    /// assert_eq!(Bounds::at_least(1).upper(), Bound::<&i32>::Unbounded);
    /// ```
    pub const fn upper(&self) -> Bound<&T> {
        match &self.upper {
            Bound::Included(v) => Bound::Included(v),
            Bound::Excluded(v) => Bound::Excluded(v),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
}

impl<T> RangeBounds<T> for Bounds<T> {
    fn start_bound(&self) -> Bound<&T> {
        self.lower()
    }
    fn end_bound(&self) -> Bound<&T> {
        self.upper()
    }
}

/// Which side of a range a value fell outside of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// The value is below the lower bound.
    BelowLower,
    /// The value is above the upper bound.
    AboveUpper,
    /// The value is unordered with respect to the bounds (a floating-point NaN).
    Unordered,
}

impl<T: PartialOrd> Bounds<T> {
    /// Which side `value` violates, or `None` when it is inside the bounds.
    ///
    /// ```
    /// # use keel_runtime::bounds::{Bounds, Violation};
    /// let b = Bounds::inclusive(1.0, 2.0);
    /// assert_eq!(b.violation(&1.5), None);
    /// assert_eq!(b.violation(&0.5), Some(Violation::BelowLower));
    /// assert_eq!(b.violation(&f64::NAN), Some(Violation::Unordered));
    /// ```
    pub fn violation(&self, value: &T) -> Option<Violation> {
        // A value that does not even compare equal to itself (NaN) is never accepted, even
        // against open bounds.
        #[allow(clippy::eq_op)]
        if value.partial_cmp(value).is_none() {
            return Some(Violation::Unordered);
        }
        let below = match &self.lower {
            Bound::Included(lo) => value.partial_cmp(lo).is_none_or(|o| o.is_lt()),
            Bound::Excluded(lo) => value.partial_cmp(lo).is_none_or(|o| o.is_le()),
            Bound::Unbounded => false,
        };
        if below {
            return Some(Violation::BelowLower);
        }
        let above = match &self.upper {
            Bound::Included(hi) => value.partial_cmp(hi).is_none_or(|o| o.is_gt()),
            Bound::Excluded(hi) => value.partial_cmp(hi).is_none_or(|o| o.is_ge()),
            Bound::Unbounded => false,
        };
        above.then_some(Violation::AboveUpper)
    }
}

impl<T: PartialOrd + fmt::Debug> Bounds<T> {
    /// Returns `value` if it lies inside the bounds, otherwise a [`BoundsError`] naming the type,
    /// the field (`None` for a newtype), the value and the bounds.
    ///
    /// ```
    /// # use keel_runtime::bounds::Bounds;
    /// let port = Bounds::inclusive(1u32, 65535);
    /// assert_eq!(port.check(8080, "NetworkConfig", Some("port")), Ok(8080));
    /// let err = port.check(0, "Port", None).unwrap_err();
    /// assert_eq!(err.to_string(), "Port must be in 1..=65535, got 0");
    /// ```
    pub fn check(
        &self,
        value: T,
        type_name: &'static str,
        field: Option<&'static str>,
    ) -> Result<T, BoundsError> {
        match self.violation(&value) {
            None => Ok(value),
            Some(violation) => Err(BoundsError::new(type_name, field, &value, self, violation)),
        }
    }
}

impl<T: PartialOrd + fmt::Debug> Bounds<T> {
    /// The error for a `value` that the caller's own comparison already found outside the
    /// bounds: works out which side it broke and builds the [`BoundsError`]. The value is taken
    /// by value so that a caller's fast path needs no stack slot for it.
    ///
    /// This is the failure path of the code `#[derive(Bounded)]` generates: the check itself is
    /// compared inline, and this function stays out of line (`#[cold]`, never inlined) so that it
    /// costs nothing while values are in bounds. A value that is actually inside the bounds (a
    /// caller error) is reported as unordered rather than accepted.
    ///
    /// ```
    /// # use keel_runtime::bounds::{Bounds, Violation};
    /// const PORT: Bounds<u32> = Bounds::inclusive(1, 65535);
    /// let value = 99999;
    /// let err = PORT.rejection(value, "NetworkConfig", Some("port"));
    /// assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
    /// assert_eq!(err.violation(), Violation::AboveUpper);
    /// ```
    #[cold]
    #[inline(never)]
    pub fn rejection(
        &self,
        value: T,
        type_name: &'static str,
        field: Option<&'static str>,
    ) -> BoundsError {
        let violation = self.violation(&value).unwrap_or(Violation::Unordered);
        BoundsError::new(type_name, field, &value, self, violation)
    }
}

struct DebugBound<'a, T>(&'a Bound<T>);

impl<T: fmt::Debug> fmt::Display for Bounds<T> {
    /// Prints the bounds as Rust range syntax: `1..=65535`, `..50`, `0.0..`, `..`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lower {
            Bound::Included(lo) => write!(f, "{lo:?}")?,
            Bound::Excluded(lo) => write!(f, "(exclusive {lo:?})")?,
            Bound::Unbounded => {}
        }
        f.write_str("..")?;
        match &self.upper {
            Bound::Included(hi) => write!(f, "={hi:?}"),
            Bound::Excluded(hi) => write!(f, "{hi:?}"),
            Bound::Unbounded => Ok(()),
        }
    }
}

impl<T: fmt::Debug> fmt::Display for DebugBound<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Bound::Included(v) | Bound::Excluded(v) => write!(f, "{v:?}"),
            Bound::Unbounded => Ok(()),
        }
    }
}

/// A value outside its declared bounds.
///
/// Carries the type name, the field name (`None` for a bounded newtype), the offending value and
/// the bounds, each as text, so the error can be cloned, compared, logged and sent across threads
/// whatever the value's type was. The message names all of them:
///
/// * a field, the side it broke: `NetworkConfig.port must be <= 65535, got 99999`
/// * a newtype, the whole range: `Port must be in 1..=65535, got 0`
/// * a NaN, always rejected: `Sample.ratio must be in 0.0..=1.0, got NaN`
///
/// ```
/// # use keel_runtime::bounds::Bounds;
/// let err = Bounds::inclusive(1u32, 65535)
///     .check(99999, "NetworkConfig", Some("port"))
///     .unwrap_err();
/// assert_eq!(err.type_name(), "NetworkConfig");
/// assert_eq!(err.field(), Some("port"));
/// assert_eq!(err.value(), "99999");
/// assert_eq!(err.bounds(), "1..=65535");
/// assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{message}")]
pub struct BoundsError {
    type_name: &'static str,
    field: Option<&'static str>,
    value: String,
    bounds: String,
    violation: Violation,
    message: String,
}

impl BoundsError {
    /// Builds the error for `value` breaking `bounds` on the given side.
    ///
    /// Generated code calls this on its (cold) failure path; [`Bounds::check`] is the usual way.
    ///
    /// ```
    /// # use keel_runtime::bounds::{Bounds, BoundsError, Violation};
    /// let e = BoundsError::new("Level", None, &11u8, &Bounds::inclusive(0u8, 10), Violation::AboveUpper);
    /// assert_eq!(e.to_string(), "Level must be in 0..=10, got 11");
    /// ```
    #[cold]
    pub fn new<T: fmt::Debug>(
        type_name: &'static str,
        field: Option<&'static str>,
        value: &T,
        bounds: &Bounds<T>,
        violation: Violation,
    ) -> Self {
        let value = format!("{value:?}");
        let bounds_text = bounds.to_string();
        let subject = match field {
            Some(field) => format!("{type_name}.{field}"),
            None => type_name.to_owned(),
        };
        let requirement = match (field, violation) {
            (Some(_), Violation::BelowLower) => match &bounds.lower {
                Bound::Included(_) => format!(">= {}", DebugBound(&bounds.lower)),
                _ => format!("> {}", DebugBound(&bounds.lower)),
            },
            (Some(_), Violation::AboveUpper) => match &bounds.upper {
                Bound::Included(_) => format!("<= {}", DebugBound(&bounds.upper)),
                _ => format!("< {}", DebugBound(&bounds.upper)),
            },
            _ => format!("in {bounds_text}"),
        };
        let message = format!("{subject} must be {requirement}, got {value}");
        Self {
            type_name,
            field,
            value,
            bounds: bounds_text,
            violation,
            message,
        }
    }

    /// Builds the error for a value that does not fit `bits` bits of storage
    /// (used by `#[derive(Compact)]` containers for `#[compact(bits = N)]` fields).
    ///
    /// ```
    /// # use keel_runtime::bounds::BoundsError;
    /// let e = BoundsError::bits("Pixel", "red", &300u16, 8, 0, 255);
    /// assert_eq!(e.to_string(), "Pixel.red must fit in 8 bits (0..=255), got 300");
    /// assert_eq!(e.bounds(), "0..=255");
    /// ```
    #[cold]
    pub fn bits<T: fmt::Debug>(
        type_name: &'static str,
        field: &'static str,
        value: &T,
        bits: u32,
        min: i128,
        max: i128,
    ) -> Self {
        let value = format!("{value:?}");
        let bounds = format!("{min}..={max}");
        let message =
            format!("{type_name}.{field} must fit in {bits} bits ({bounds}), got {value}");
        let violation = Violation::AboveUpper;
        Self {
            type_name,
            field: Some(field),
            value,
            bounds,
            violation,
            message,
        }
    }

    /// The name of the type whose value was rejected (`"NetworkConfig"`, `"Port"`).
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The name of the field, or `None` when the error is about a bounded newtype.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// The rejected value as text (its `Debug` form: `"99999"`, `"NaN"`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The bounds as Rust range syntax (`"1..=65535"`).
    pub fn bounds(&self) -> &str {
        &self.bounds
    }

    /// Which side of the bounds the value broke.
    pub fn violation(&self) -> Violation {
        self.violation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_side_for_fields_and_the_range_for_newtypes() {
        let b = Bounds::inclusive(1u32, 65535);
        let low = b.check(0, "NetworkConfig", Some("port")).unwrap_err();
        assert_eq!(low.to_string(), "NetworkConfig.port must be >= 1, got 0");
        assert_eq!(low.violation(), Violation::BelowLower);
        let b = Bounds::half_open(0i8, 10);
        let high = b.check(10, "T", Some("x")).unwrap_err();
        assert_eq!(high.to_string(), "T.x must be < 10, got 10");
        let newtype = b.check(-1, "Digit", None).unwrap_err();
        assert_eq!(newtype.to_string(), "Digit must be in 0..10, got -1");
        assert_eq!(newtype.field(), None);
    }

    #[test]
    fn nan_is_rejected_even_with_open_bounds() {
        let e = Bounds::<f64>::new(Bound::Unbounded, Bound::Unbounded)
            .check(f64::NAN, "S", Some("v"))
            .unwrap_err();
        assert_eq!(e.to_string(), "S.v must be in .., got NaN");
        assert_eq!(e.violation(), Violation::Unordered);
        let e = Bounds::inclusive(0.0f32, 1.0)
            .check(f32::NAN, "S", Some("r"))
            .unwrap_err();
        assert_eq!(e.to_string(), "S.r must be in 0.0..=1.0, got NaN");
    }

    #[test]
    fn edges_are_exact() {
        let b = Bounds::inclusive(i64::MIN, -5);
        assert!(b.check(i64::MIN, "T", None).is_ok());
        assert!(b.check(-5, "T", None).is_ok());
        assert!(b.check(-4, "T", None).is_err());
        let b = Bounds::below(0.0f64);
        assert!(b.check(-0.0001, "T", None).is_ok());
        assert!(b.check(0.0, "T", None).is_err());
        assert!(b.check(f64::INFINITY, "T", None).is_err());
        assert!(b.check(f64::NEG_INFINITY, "T", None).is_ok());
    }

    #[test]
    fn errors_compare_and_clone() {
        let b = Bounds::at_most(50u8);
        let e1 = b.check(51, "T", Some("r")).unwrap_err();
        let e2 = e1.clone();
        assert_eq!(e1, e2);
        assert_ne!(e1, b.check(52, "T", Some("r")).unwrap_err());
        assert_eq!(e1.bounds(), "..=50");
        assert_eq!(e1.value(), "51");
    }

    #[test]
    fn rejection_names_the_broken_side() {
        let b = Bounds::half_open(-5i64, 10);
        let e = b.rejection(-6, "T", Some("x"));
        assert_eq!(e.to_string(), "T.x must be >= -5, got -6");
        assert_eq!(e.violation(), Violation::BelowLower);
        let e = b.rejection(10, "T", None);
        assert_eq!(e.to_string(), "T must be in -5..10, got 10");
        // A caller that rejected an in-bounds value gets an error, never a panic.
        assert_eq!(b.rejection(0, "T", None).violation(), Violation::Unordered);
    }
}
