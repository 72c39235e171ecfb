//! `#[derive(Compact)]`: layouts, columnar containers, bounds and bits, strings, enums, nesting.

#![deny(warnings, clippy::all)]

use keel::Compact;
use keel::layout::Storage;

#[derive(Compact, Clone, Copy, Debug, PartialEq)]
pub enum Quality {
    Good,
    Suspect,
    Bad,
}

#[derive(Compact, Clone, Debug, PartialEq)]
#[compact(max_size = 48)]
pub struct SensorReading {
    timestamp: u64,
    #[bounded(-50..=150)]
    celsius: i16,
    value: f64,
    #[compact(intern)]
    unit: String,
    active: bool,
}

fn reading(i: u64) -> SensorReading {
    SensorReading {
        timestamp: 1_719_000_000 + i,
        celsius: (i % 201) as i16 - 50,
        value: i as f64 * 0.5,
        unit: "°C".into(),
        active: i.is_multiple_of(3),
    }
}

fn filled(n: u64) -> SensorReadingVec {
    let mut rows = SensorReadingVec::new();
    for i in 0..n {
        rows.push(reading(i)).expect("in range");
    }
    rows
}

#[test]
fn rows_round_trip_through_get_getters_and_columns() {
    let rows = filled(1000);
    assert_eq!(rows.len(), 1000);
    assert!(!rows.is_empty());
    for i in 0..1000 {
        assert_eq!(rows.get(i as usize), Some(reading(i)));
    }
    assert_eq!(rows.get(1000), None);
    assert_eq!(rows.timestamp(7), Some(1_719_000_007));
    assert_eq!(rows.celsius(7), Some(-43));
    assert_eq!(rows.unit(7), Some("°C"));
    assert_eq!(rows.active(7), Some(false));
    assert_eq!(rows.active(9), Some(true));
    assert_eq!(rows.timestamp(1000), None);
    assert_eq!(rows.value_column().len(), 1000);
    assert_eq!(rows.value_column()[10], 5.0);
    assert_eq!(
        rows.value_column().iter().sum::<f64>(),
        0.5 * 999.0 * 1000.0 / 2.0
    );
    assert_eq!(rows.timestamp_column()[999], 1_719_000_999);
    assert_eq!(rows.active_column().count_ones(), 334);
    assert_eq!(rows.celsius_column().bits(), 8);
    assert_eq!(rows.unit_column().distinct(), 1);
    let collected: Vec<SensorReading> = rows.iter().collect();
    assert_eq!(collected, (0..1000).map(reading).collect::<Vec<_>>());
    assert_eq!((&rows).into_iter().next_back(), Some(reading(999)));
}

#[test]
fn layout_matches_the_compiler() {
    const L: keel::Layout = SensorReading::LAYOUT;
    assert_eq!(L.type_name(), "SensorReading");
    assert_eq!(L.size(), size_of::<SensorReading>());
    assert_eq!(L.align(), align_of::<SensorReading>());
    let field = |name: &str| *L.fields().iter().find(|f| f.name() == name).unwrap();
    assert_eq!(
        field("timestamp").offset(),
        core::mem::offset_of!(SensorReading, timestamp)
    );
    assert_eq!(
        field("celsius").offset(),
        core::mem::offset_of!(SensorReading, celsius)
    );
    assert_eq!(
        field("unit").offset(),
        core::mem::offset_of!(SensorReading, unit)
    );
    assert_eq!(field("celsius").bits(), 8);
    assert_eq!(field("celsius").size(), 2);
    assert_eq!(field("celsius").type_name(), "i16");
    assert_eq!(field("celsius").storage(), Storage::Packed);
    assert_eq!(field("active").bits(), 1);
    assert_eq!(field("active").storage(), Storage::Bitmap);
    assert_eq!(field("unit").storage(), Storage::Interned);
    assert_eq!(field("value").bits(), 64);
    assert_eq!(L.packed_bits(), 64 + 8 + 64 + 1);
    let used: usize = L.fields().iter().map(|f| f.size()).sum();
    assert_eq!(L.padding_bytes(), L.size() - used);
    let table = L.to_string();
    assert!(table.starts_with("SensorReading (size 48, align 8, padding 5 bytes"));
    assert!(table.contains("| celsius   | i16    | 2    | 8    | packed   |"));
    assert!(table.contains("[padding]"));
    // The trait constant is the same value.
    assert_eq!(<SensorReading as Compact>::LAYOUT, L);
}

#[test]
fn range_ends_are_accepted_and_one_past_is_rejected_with_nothing_stored() {
    let mut rows = filled(3);
    let before = rows.clone();
    let at = |celsius| SensorReading {
        celsius,
        ..reading(0)
    };
    rows.push(at(-50)).unwrap();
    rows.push(at(150)).unwrap();
    assert_eq!(rows.celsius(3), Some(-50));
    assert_eq!(rows.celsius(4), Some(150));
    rows.truncate(3);
    assert_eq!(rows, before);

    let err = rows.push(at(151)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SensorReading.celsius must be <= 150, got 151"
    );
    assert_eq!(err.field(), Some("celsius"));
    let err = rows.push(at(-51)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SensorReading.celsius must be >= -50, got -51"
    );
    assert_eq!(rows, before);
    assert_eq!(rows.len(), 3);

    // `set` out of range changes nothing either.
    let err = rows.set(1, at(1000)).unwrap_err();
    assert_eq!(err.value(), "1000");
    assert_eq!(rows, before);
}

const DEEPEST: i32 = -1000;

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Dive {
    // Negative, half-open, with a named constant as a bound.
    #[bounded(DEEPEST..-10)]
    depth: i32,
    #[compact(bits = 3)]
    delta: i8,
    #[compact(bits = 4)]
    level: u8,
    #[bounded(i64::MIN..=i64::MAX)]
    wide: i64,
    #[compact(bits = 64)]
    raw: u64,
    #[bounded(0.0..=1.0)]
    ratio: f32,
    initial: char,
    count: usize,
}

fn dive(depth: i32) -> Dive {
    Dive {
        depth,
        delta: 0,
        level: 0,
        wide: 0,
        raw: 0,
        ratio: 0.5,
        initial: 'k',
        count: 3,
    }
}

#[test]
fn negative_and_const_bounds_compute_their_width() {
    // -1000..-10 holds 990 values: 10 bits, computed in const from `DEEPEST`.
    assert_eq!(DiveColumns::DEPTH_BITS, 10);
    let mut rows = DiveVec::new();
    rows.push(dive(-1000)).unwrap();
    rows.push(dive(-11)).unwrap();
    assert_eq!(rows.depth(0), Some(-1000));
    assert_eq!(rows.depth(1), Some(-11));
    let err = rows.push(dive(-10)).unwrap_err();
    assert_eq!(err.to_string(), "Dive.depth must be < -10, got -10");
    let err = rows.push(dive(-1001)).unwrap_err();
    assert_eq!(err.to_string(), "Dive.depth must be >= -1000, got -1001");
    assert_eq!(rows.len(), 2);
}

#[test]
fn bits_overflow_is_an_error_that_leaves_the_container_unchanged() {
    let mut rows = DiveVec::new();
    let extremes = Dive {
        depth: -500,
        delta: -4,
        level: 15,
        wide: i64::MIN,
        raw: u64::MAX,
        ratio: 1.0,
        initial: '🦀',
        count: usize::MAX,
    };
    rows.push(extremes.clone()).unwrap();
    rows.push(Dive {
        delta: 3,
        wide: i64::MAX,
        ..dive(-20)
    })
    .unwrap();
    assert_eq!(rows.get(0), Some(extremes));
    assert_eq!(rows.delta(1), Some(3));
    assert_eq!(rows.wide(1), Some(i64::MAX));
    let before = rows.clone();

    let err = rows
        .push(Dive {
            level: 16,
            ..dive(-20)
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dive.level must fit in 4 bits (0..=15), got 16"
    );
    assert_eq!(err.bounds(), "0..=15");
    let err = rows
        .push(Dive {
            delta: 4,
            ..dive(-20)
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dive.delta must fit in 3 bits (-4..=3), got 4"
    );
    let err = rows
        .push(Dive {
            delta: -5,
            ..dive(-20)
        })
        .unwrap_err();
    assert_eq!(err.value(), "-5");
    let err = rows
        .push(Dive {
            ratio: f32::NAN,
            ..dive(-20)
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "Dive.ratio must be in 0.0..=1.0, got NaN");
    assert_eq!(rows, before);

    let layout = Dive::LAYOUT;
    let bits: Vec<u32> = layout.fields().iter().map(|f| f.bits()).collect();
    assert_eq!(bits, [10, 3, 4, 64, 64, 32, 32, usize::BITS]);
}

#[test]
fn interned_strings_are_stored_once() {
    let units = ["°C", "°F", "K"];
    let mut rows = SensorReadingVec::new();
    for i in 0..3000 {
        rows.push(SensorReading {
            unit: units[i % 3].to_owned(),
            ..reading(i as u64)
        })
        .unwrap();
    }
    assert_eq!(rows.unit_column().distinct(), 3);
    assert_eq!(rows.unit_column().id_bits(), 2);
    assert_eq!(rows.unit_column().interner().lookup("K"), Some(2));
    assert_eq!(rows.unit(2999), Some("K"));
    assert_eq!(rows.get(1).map(|r| r.unit), Some("°F".to_owned()));
    // 3000 ids of 2 bits take 750 bytes (plus one spare word and growth slack), the three texts
    // a few bytes: far below one heap string per row.
    assert!(
        rows.unit_column().memory_bytes() < 2048,
        "{}",
        rows.unit_column().memory_bytes()
    );
    rows.clear();
    assert_eq!(rows.unit_column().distinct(), 0);
    assert!(rows.is_empty());
}

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Tagged {
    id: u32,
    name: String,
    quality: Quality,
}

fn tagged(id: u32, name: &str) -> Tagged {
    Tagged {
        id,
        name: name.to_owned(),
        quality: [Quality::Good, Quality::Suspect, Quality::Bad][id as usize % 3],
    }
}

#[test]
fn arena_strings_and_enum_fields_support_every_edit() {
    let mut rows: TaggedVec = ["alpha", "", "gamma", "delta"]
        .iter()
        .enumerate()
        .map(|(i, name)| tagged(i as u32, name))
        .collect();
    assert_eq!(rows.name_column().text_len(), "alphagammadelta".len());
    assert_eq!(rows.name(1), Some(""));
    assert_eq!(rows.quality(2), Some(Quality::Bad));

    rows.set(1, tagged(10, "beta-longer")).unwrap();
    assert_eq!(rows.get(1), Some(tagged(10, "beta-longer")));
    assert_eq!(rows.name(2), Some("gamma"));

    assert_eq!(rows.swap_remove(0), tagged(0, "alpha"));
    assert_eq!(rows.get(0), Some(tagged(3, "delta")));
    assert_eq!(rows.pop(), Some(tagged(2, "gamma")));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter().map(|t| t.name).collect::<Vec<_>>(),
        ["delta", "beta-longer"]
    );
    assert_eq!(rows.name_column().text_len(), "deltabeta-longer".len());
    rows.truncate(1);
    assert_eq!(rows.pop(), Some(tagged(3, "delta")));
    assert_eq!(rows.pop(), None);

    assert_eq!(Quality::LAYOUT.packed_bits(), 2);
    assert_eq!(Quality::LAYOUT.variants(), Some(3));
    let quality = Tagged::LAYOUT.fields()[2];
    assert_eq!((quality.bits(), quality.storage()), (2, Storage::Enum));
    let mut qualities = QualityVec::new();
    qualities.push(Quality::Suspect);
    assert_eq!(qualities.get(0), Some(Quality::Suspect));
    assert_eq!(qualities.bits(), 2);
}

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Labelled {
    at: u64,
    tag: Tagged,
}

#[test]
fn get_into_decodes_in_place_and_reuses_string_buffers() {
    let rows = filled(10);
    let mut row = SensorReading {
        unit: String::with_capacity(64),
        ..reading(0)
    };
    let buffer = (row.unit.as_ptr(), row.unit.capacity());
    for i in [9, 3, 0] {
        assert!(rows.get_into(i, &mut row));
        assert_eq!(row, reading(i as u64));
        // Same allocation every time: the interned text was copied into the row's own buffer.
        assert_eq!((row.unit.as_ptr(), row.unit.capacity()), buffer);
    }
    // Past the end: `false`, and the row keeps what it held.
    assert!(!rows.get_into(10, &mut row));
    assert_eq!(row, reading(0));

    // Arena strings and enums, and a nested struct (whose own columns decode in place too).
    let names: TaggedVec = ["a-rather-long-name", "b"]
        .iter()
        .enumerate()
        .map(|(i, name)| tagged(i as u32, name))
        .collect();
    let mut tag = tagged(7, "");
    assert!(names.get_into(0, &mut tag));
    assert_eq!(tag, tagged(0, "a-rather-long-name"));
    let grown = (tag.name.as_ptr(), tag.name.capacity());
    assert!(names.get_into(1, &mut tag));
    assert_eq!(tag, tagged(1, "b"));
    assert_eq!((tag.name.as_ptr(), tag.name.capacity()), grown);

    let mut labelled = LabelledVec::new();
    labelled
        .push(Labelled {
            at: 5,
            tag: tagged(2, "nested"),
        })
        .unwrap();
    let mut out = Labelled {
        at: 0,
        tag: tagged(0, "x"),
    };
    assert!(labelled.get_into(0, &mut out));
    assert_eq!(out, labelled.get(0).unwrap());
    assert!(!labelled.get_into(1, &mut out));
    assert_eq!(out.tag.name, "nested");
}

#[derive(Compact, Clone, Copy, Debug, PartialEq)]
pub struct Position {
    #[bounded(-90..=90)]
    lat: i8,
    #[bounded(-180..=180)]
    lon: i16,
}

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Fix {
    at: u64,
    position: Position,
    quality: Quality,
}

#[test]
fn a_nested_compact_struct_is_flattened_into_columns() {
    let fix = |at: u64, lat: i8, lon: i16| Fix {
        at,
        position: Position { lat, lon },
        quality: Quality::Good,
    };
    let mut rows = FixVec::with_capacity(4);
    rows.push(fix(1, 90, -180)).unwrap();
    rows.push(fix(2, -90, 180)).unwrap();
    assert_eq!(rows.get(1), Some(fix(2, -90, 180)));
    assert_eq!(rows.position(0), Some(Position { lat: 90, lon: -180 }));
    // The nested columns are reachable and bit-packed.
    assert_eq!(rows.position_column().lat(1), Some(-90));
    assert_eq!(rows.position_column().lon_column().bits(), 9);

    // An error inside the nested struct names it, and nothing is stored anywhere.
    let before = rows.clone();
    let err = rows.push(fix(3, 91, 0)).unwrap_err();
    assert_eq!(err.to_string(), "Position.lat must be <= 90, got 91");
    assert_eq!(rows, before);
    assert_eq!(rows.position_column().len(), 2);

    let position = Fix::LAYOUT.fields()[1];
    assert_eq!(position.bits(), 8 + 9);
    assert_eq!(position.storage(), Storage::Nested);
    assert_eq!(Fix::LAYOUT.packed_bits(), 64 + 17 + 2);

    rows.swap_remove(0);
    assert_eq!(rows.get(0), Some(fix(2, -90, 180)));
    assert_eq!(rows.position_column().len(), 1);
}

#[test]
fn try_extend_is_all_or_nothing_and_extend_panics_with_the_message() {
    let mut rows = filled(2);
    let before = rows.clone();
    let batch = vec![
        reading(10),
        SensorReading {
            celsius: 999,
            ..reading(11)
        },
    ];
    let err = rows.try_extend(batch).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SensorReading.celsius must be <= 150, got 999"
    );
    assert_eq!(rows, before);
    rows.try_extend((2..5).map(reading)).unwrap();
    assert_eq!(rows, filled(5));

    let panic = std::panic::catch_unwind(|| {
        let mut rows = SensorReadingVec::new();
        rows.extend([SensorReading {
            celsius: -99,
            ..reading(0)
        }]);
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(message, "SensorReading.celsius must be >= -50, got -99");
}

#[test]
fn debug_eq_and_clear_behave_like_a_vec() {
    let rows = filled(2);
    assert_eq!(
        format!("{rows:?}"),
        "[SensorReading { timestamp: 1719000000, celsius: -50, value: 0.0, unit: \"°C\", \
         active: true }, SensorReading { timestamp: 1719000001, celsius: -49, value: 0.5, unit: \
         \"°C\", active: false }]"
    );
    let fixes: FixVec = [Fix {
        at: 1,
        position: Position { lat: 1, lon: 2 },
        quality: Quality::Bad,
    }]
    .into_iter()
    .collect();
    assert_eq!(
        format!("{fixes:?}"),
        "[Fix { at: 1, position: Position { lat: 1, lon: 2 }, quality: Bad }]"
    );
    assert_eq!(filled(2), filled(2));
    assert_ne!(filled(2), filled(3));
    let mut other = filled(2);
    other.set(1, reading(7)).unwrap();
    assert_ne!(filled(2), other);
    let mut cleared = filled(10);
    cleared.clear();
    assert_eq!(cleared, SensorReadingVec::default());
}

#[test]
fn a_million_readings_take_at_most_20_bytes_each() {
    let n = 1_000_000u64;
    let mut rows = SensorReadingVec::new();
    for i in 0..n {
        rows.push(reading(i)).unwrap();
    }
    let grown = rows.memory_bytes();
    rows.shrink_to_fit();
    let exact = rows.memory_bytes();
    // 8 (timestamp) + 8 (value) + 1 (celsius, 8 bits) + 1/8 (active) + 0 (one unit: 0-bit ids)
    // = 17.125 bytes per row, plus the interner and the columns' spare words.
    assert!(exact <= 17_125_000 + 256, "{exact}");
    assert!(
        grown as f64 / n as f64 <= 20.0,
        "{grown} bytes after growth"
    );
    assert!(exact as f64 / n as f64 <= 20.0);
    assert_eq!(rows.get(999_999), Some(reading(999_999)));
}

mod renamed {
    use keel as my_keel;

    #[derive(my_keel::Compact)]
    #[compact(crate = my_keel)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    #[test]
    fn crate_option_names_the_renamed_dependency() {
        let mut points = PointVec::new();
        points.push(Point { x: 1, y: -1 }).unwrap();
        assert_eq!(points.x_column(), [1]);
        assert_eq!(points.y(0), Some(-1));
    }
}

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Wide {
    #[bounded(-3..=3)]
    tiny: i128,
    #[bounded(10..=u64::MAX as u128)]
    big: u128,
    #[bounded(0..1000)]
    index: usize,
    #[bounded(-1..=1)]
    sign: isize,
    #[compact(bits = 12)]
    twelve: u32,
    #[bounded(1..=8)]
    octet: u8,
}

#[test]
fn every_integer_type_packs_and_round_trips() {
    let row = Wide {
        tiny: -3,
        big: u64::MAX as u128,
        index: 999,
        sign: -1,
        twelve: 4095,
        octet: 8,
    };
    let low = Wide {
        tiny: 3,
        big: 10,
        index: 0,
        sign: 1,
        twelve: 0,
        octet: 1,
    };
    let rows: WideVec = [row.clone(), low.clone()].into_iter().collect();
    assert_eq!(rows.get(0), Some(row));
    assert_eq!(rows.get(1), Some(low));
    let bits: Vec<u32> = Wide::LAYOUT.fields().iter().map(|f| f.bits()).collect();
    assert_eq!(bits, [3, 64, 10, 2, 12, 3]);
    let mut rows = rows;
    let err = rows
        .push(Wide {
            big: 9,
            ..rows.get(0).unwrap()
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "Wide.big must be >= 10, got 9");
    assert_eq!(rows.len(), 2);
}

/// A `#[derive(Bounded)]` newtype carries its bounds into a `Compact` struct: no attribute.
#[derive(keel::Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(1..=65535)]
pub struct Port(u32);

#[derive(keel::Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(0.0..=1.0)]
pub struct Load(f64);

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct Endpoint {
    port: Port,
    load: Load,
    up: bool,
}

#[test]
fn a_bounded_newtype_field_is_packed_to_its_range() {
    let port = Port::try_new(8080).unwrap();
    let endpoint = |port: Port, load: f64| Endpoint {
        port,
        load: Load::try_new(load).unwrap(),
        up: true,
    };
    // 1..=65535 needs 16 bits (offsets 0..=65534), not the u32's 32; the f64 keeps 64.
    let fields = Endpoint::LAYOUT.fields();
    assert_eq!(
        (fields[0].bits(), fields[0].storage()),
        (16, Storage::Packed)
    );
    assert_eq!(
        (fields[1].bits(), fields[1].storage()),
        (64, Storage::Packed)
    );
    assert_eq!(Endpoint::LAYOUT.packed_bits(), 16 + 64 + 1);
    assert!(Endpoint::LAYOUT.to_string().contains("| Port "));

    let mut rows = EndpointVec::new();
    rows.push(endpoint(port, 0.5)).unwrap();
    rows.push(endpoint(Port::MAX, 1.0)).unwrap();
    rows.push(endpoint(Port::MIN, 0.0)).unwrap();
    assert_eq!(rows.get(0), Some(endpoint(port, 0.5)));
    assert_eq!(rows.port(1), Some(Port::MAX));
    assert_eq!(rows.port_column().codes().bits(), 16);
    assert_eq!(
        rows.port_column().codes().get(2),
        Some(0),
        "stored as offset from 1"
    );
    assert_eq!(
        format!("{:?}", rows.get(2).unwrap().port),
        format!("{:?}", rows.port_column().get(2).unwrap())
    );
    assert!(format!("{rows:?}").contains("port: Port(8080)"), "{rows:?}");

    // A value built without `try_new` (possible here, next to the newtype) is refused with the
    // newtype's own message, and nothing is stored in any column.
    let before = rows.clone();
    let err = rows.push(endpoint(Port(0), 0.1)).unwrap_err();
    assert_eq!(err.to_string(), "Port must be in 1..=65535, got 0");
    let err = rows
        .push(Endpoint {
            load: Load(2.0),
            ..endpoint(port, 0.0)
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "Load must be in 0.0..=1.0, got 2.0");
    assert_eq!(rows, before);

    rows.set(0, endpoint(Port::try_new(443).unwrap(), 0.25))
        .unwrap();
    assert_eq!(rows.swap_remove(0).port.get(), 443);
    assert_eq!(
        rows.iter().map(|e| e.port.get()).collect::<Vec<_>>(),
        [1, 65535]
    );
}
