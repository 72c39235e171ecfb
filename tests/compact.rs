//! `#[derive(Compact)]`: layouts, columnar containers, bounds and bits, strings, enums, nesting.

#![deny(warnings, clippy::all)]

use keel::Compact;

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
        active: i % 3 == 0,
    }
}

#[test]
fn push_get_round_trip() {
    let mut rows = SensorReadingVec::new();
    for i in 0..1000 {
        rows.push(reading(i)).unwrap();
    }
    assert_eq!(rows.len(), 1000);
    for i in 0..1000 {
        assert_eq!(rows.get(i as usize), Some(reading(i)));
    }
    println!("{}", SensorReading::LAYOUT);
    println!("{:?}", rows.get(3));
}
