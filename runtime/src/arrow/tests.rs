//! Unit tests of the column conversions that need no generated code.

use super::*;
use crate::layout::doc_example::{Level, Percent};
use crate::layout::{Bitmap, InternedStrs, PackedColumn, StrArena};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type, UInt8Type};

#[test]
fn int_type_picks_the_narrowest_at_each_edge() {
    assert_eq!(int_type(0, 0), DataType::UInt8);
    assert_eq!(int_type(0, 255), DataType::UInt8);
    assert_eq!(int_type(0, 256), DataType::UInt16);
    assert_eq!(int_type(0, u32::MAX.into()), DataType::UInt32);
    assert_eq!(int_type(0, u64::MAX.into()), DataType::UInt64);
    assert_eq!(int_type(-128, 127), DataType::Int8);
    assert_eq!(int_type(-128, 128), DataType::Int16);
    assert_eq!(int_type(-129, 0), DataType::Int16);
    assert_eq!(int_type(i32::MIN.into(), 0), DataType::Int32);
    assert_eq!(int_type(i64::MIN.into(), i64::MAX.into()), DataType::Int64);
}

#[test]
fn packed_columns_decode_to_their_values_at_every_target_type() {
    for (lo, hi) in [
        (0i128, 200i128),
        (-50, 150),
        (1000, 70_000),
        (-(1 << 40), 1 << 40),
        (0, u64::MAX.into()),
        (i64::MIN.into(), i64::MAX.into()),
    ] {
        let bits = crate::layout::range_bits_signed(lo, hi);
        let mut column = PackedColumn::new(bits);
        let values = [lo, hi, lo + (hi - lo) / 3];
        for v in values {
            column.push((v - lo) as u64);
        }
        let array = packed_to_array(&column, lo, hi);
        assert_eq!(array.data_type(), &int_type(lo, hi));
        let back = i128::read(array.as_ref(), "x").unwrap();
        assert_eq!(back, values, "{lo}..={hi}");
    }
}

#[test]
fn bitmaps_keep_their_bits_past_a_word_and_after_truncation() {
    let mut flags = Bitmap::new();
    for i in 0..130 {
        flags.push(i % 5 == 0);
    }
    flags.truncate(100);
    let expected: Vec<bool> = flags.iter().collect();
    for array in [bitmap_to_array(&flags), bitmap_into_array(flags.clone())] {
        assert_eq!(array.len(), 100);
        let got: Vec<bool> = array.as_boolean().iter().map(Option::unwrap).collect();
        assert_eq!(got, expected);
        assert_eq!(bool::read(array.as_ref(), "flag").unwrap(), expected);
    }
}

#[test]
fn strings_round_trip_through_arena_and_dictionary() {
    let mut arena = StrArena::new();
    let mut interned = InternedStrs::new();
    let texts = ["", "north", "é∑🦀", "north", ""];
    for text in texts {
        arena.push(text);
        interned.push(text);
    }
    let plain = arena_to_array(&arena, "name").unwrap();
    let moved = arena_into_array(arena.clone(), "name").unwrap();
    let dictionary = interned_to_array(&interned, "tag").unwrap();
    assert_eq!(dictionary.data_type(), &interned_type());
    assert_eq!(dictionary.as_dictionary::<Int32Type>().values().len(), 3);
    for array in [plain, moved, dictionary] {
        assert_eq!(String::read(array.as_ref(), "s").unwrap(), texts);
    }
}

#[test]
fn enums_and_newtypes_convert_through_their_containers() {
    let mut levels = EnumVec::<Level>::new();
    for level in [Level::High, Level::Low, Level::Mid] {
        levels.push(level);
    }
    let array = levels.to_array().unwrap();
    assert_eq!(
        array.as_dictionary::<Int8Type>().keys().values(),
        &[2i8, 0, 1]
    );
    assert_eq!(
        EnumVec::<Level>::rows_from_array(array.as_ref(), "level").unwrap(),
        [Level::High, Level::Low, Level::Mid]
    );

    let mut percents = NewtypeVec::<Percent>::new();
    for p in [0, 55, 100] {
        percents.push(Percent::try_new(p).unwrap()).unwrap();
    }
    assert_eq!(NewtypeVec::<Percent>::data_type(), DataType::UInt8);
    assert_eq!(NewtypeVec::<Percent>::metadata()["keel.max"], "100");
    let array = percents.to_array().unwrap();
    assert_eq!(array.as_primitive::<UInt8Type>().values(), &[0, 55, 100]);
    let back = NewtypeVec::<Percent>::rows_from_array(array.as_ref(), "p").unwrap();
    assert_eq!(back[1], Percent::try_new(55).unwrap());
    let too_big: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![5, 101]));
    assert_eq!(
        NewtypeVec::<Percent>::rows_from_array(too_big.as_ref(), "p")
            .unwrap_err()
            .to_string(),
        "column `p` row 1: 101 does not fit 0..=100"
    );
}

#[test]
fn text_past_i32_offsets_is_an_error_not_a_panic() {
    let error = to_arrow_offsets_error();
    assert_eq!(
        error.to_string(),
        "column `name` holds 2147483648 bytes of text; an Arrow Utf8 array holds at most 2147483647"
    );
}

fn to_arrow_offsets_error() -> Error {
    super::to_arrow::check_text_len("name", 1 << 31).unwrap_err()
}
