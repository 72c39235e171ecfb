//! How many bits a column needs: for a `#[bounded(..)]` range, for an enum's variant index.
//! Every function is `const`, so generated code computes widths at compile time.

use super::bits_for;

/// Bits needed to store every value of the signed range `lo..=hi` as an offset from `lo`.
/// Evaluated in `const` for each `#[bounded(..)]` integer field, so bounds may be any constant.
///
/// # Panics
/// (a compile error in `const`) when the range is empty or needs more than 64 bits.
///
/// ```
/// # use keel_runtime::layout::range_bits_signed;
/// const BITS: u32 = range_bits_signed(-50, 150);
/// assert_eq!(BITS, 8);
/// assert_eq!(range_bits_signed(i64::MIN as i128, i64::MAX as i128), 64);
/// ```
pub const fn range_bits_signed(lo: i128, hi: i128) -> u32 {
    assert!(
        lo <= hi,
        "the `#[bounded(..)]` range of this field is empty"
    );
    let bits = bits_for(hi.abs_diff(lo));
    assert!(
        bits <= 64,
        "the `#[bounded(..)]` range of this field needs more than 64 bits"
    );
    bits
}

/// Whether `lo..=hi` holds at least one value (`lo <= hi`); generated code asserts it in
/// `const` with a message naming the field.
///
/// ```
/// # use keel_runtime::layout::range_is_ordered_signed;
/// assert!(range_is_ordered_signed(-5, -5));
/// assert!(!range_is_ordered_signed(10, 5));
/// ```
pub const fn range_is_ordered_signed(lo: i128, hi: i128) -> bool {
    lo <= hi
}

/// [`range_is_ordered_signed`] for unsigned ranges.
///
/// ```
/// # use keel_runtime::layout::range_is_ordered_unsigned;
/// assert!(!range_is_ordered_unsigned(10, 5));
/// ```
pub const fn range_is_ordered_unsigned(lo: u128, hi: u128) -> bool {
    lo <= hi
}

/// [`range_bits_signed`] for unsigned ranges.
///
/// # Panics
/// (a compile error in `const`) when the range is empty or needs more than 64 bits.
///
/// ```
/// # use keel_runtime::layout::range_bits_unsigned;
/// assert_eq!(range_bits_unsigned(1, 65535), 16);
/// assert_eq!(range_bits_unsigned(7, 7), 0);
/// ```
pub const fn range_bits_unsigned(lo: u128, hi: u128) -> u32 {
    assert!(
        lo <= hi,
        "the `#[bounded(..)]` range of this field is empty"
    );
    let bits = bits_for(hi - lo);
    assert!(
        bits <= 64,
        "the `#[bounded(..)]` range of this field needs more than 64 bits"
    );
    bits
}

/// Bits needed for the index of an enum with `variants` variants: `ceil(log2(variants))`.
///
/// ```
/// # use keel_runtime::layout::enum_bits;
/// assert_eq!([1, 2, 3, 4, 5, 256, 257].map(enum_bits), [0, 1, 2, 2, 3, 8, 9]);
/// ```
pub const fn enum_bits(variants: u32) -> u32 {
    if variants <= 1 {
        0
    } else {
        bits_for((variants - 1) as u128)
    }
}
