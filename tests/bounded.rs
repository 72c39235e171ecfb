//! `#[derive(Bounded)]`: every range form and number type, consts as bounds, user types,
//! setters that leave the field unchanged on error, newtypes (with serde), `crate = path`.

#![deny(warnings, clippy::all)]

extern crate keel as my_keel;

use keel::{Bounded, Bounds, BoundsError};
use std::ops::{Bound, RangeBounds};

#[derive(Bounded, Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
    #[bounded(0..=300)]
    timeout: u32,
    #[bounded(..=50)]
    max_retries: u8,
    name: String,
}

#[test]
fn network_config_builds_reads_and_rejects() {
    let mut cfg = NetworkConfig::try_new(8080, 30, 3, "edge".into()).unwrap();
    assert_eq!(
        (cfg.port(), cfg.timeout(), cfg.max_retries()),
        (8080, 30, 3)
    );
    assert_eq!(cfg.name, "edge");

    let err = cfg.set_port(99999).unwrap_err();
    assert_eq!(
        err.to_string(),
        "NetworkConfig.port must be <= 65535, got 99999"
    );
    assert_eq!(
        cfg.port(),
        8080,
        "a rejected value leaves the field unchanged"
    );
    let err = cfg.set_port(0).unwrap_err();
    assert_eq!(err.to_string(), "NetworkConfig.port must be >= 1, got 0");
    assert_eq!(cfg.port(), 8080);

    cfg.set_port(443).unwrap();
    assert_eq!(cfg.port(), 443);
    cfg.set_timeout(300).unwrap();
    assert_eq!(
        cfg.set_timeout(301).unwrap_err().to_string(),
        "NetworkConfig.timeout must be <= 300, got 301"
    );
    assert_eq!(cfg.timeout(), 300);
    assert_eq!(
        cfg.set_max_retries(51).unwrap_err().to_string(),
        "NetworkConfig.max_retries must be <= 50, got 51"
    );
    assert_eq!(cfg.max_retries(), 3);
    assert!(cfg.validate().is_ok());
}

#[test]
fn try_new_reports_the_first_bad_field_in_order() {
    let err = NetworkConfig::try_new(0, 999, 99, String::new()).unwrap_err();
    assert_eq!(err.field(), Some("port"));
    let err = NetworkConfig::try_new(80, 999, 99, String::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "NetworkConfig.timeout must be <= 300, got 999"
    );
    let err = NetworkConfig::try_new(80, 1, 99, String::new()).unwrap_err();
    assert_eq!(err.field(), Some("max_retries"));
}

#[test]
fn validate_catches_fields_written_directly() {
    let mut cfg = NetworkConfig::try_new(8080, 30, 3, "edge".into()).unwrap();
    cfg.timeout = 1000; // code in the defining module can bypass the setter
    let err = cfg.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "NetworkConfig.timeout must be <= 300, got 1000"
    );
}

#[test]
fn error_accessors_name_type_field_value_and_bounds() {
    let mut cfg = NetworkConfig::try_new(8080, 30, 3, "edge".into()).unwrap();
    let err: BoundsError = cfg.set_port(70000).unwrap_err();
    assert_eq!(err.type_name(), "NetworkConfig");
    assert_eq!(err.field(), Some("port"));
    assert_eq!(err.value(), "70000");
    assert_eq!(err.bounds(), "1..=65535");
    assert_eq!(err.violation(), keel::bounds::Violation::AboveUpper);
    assert_eq!(err.clone(), err);
    let as_std: &dyn std::error::Error = &err;
    assert_eq!(as_std.to_string(), err.to_string());
}

#[test]
fn field_bounds_consts_are_range_bounds() {
    const PORT: Bounds<u32> = NetworkConfig::PORT_BOUNDS;
    assert_eq!(PORT, Bounds::inclusive(1, 65535));
    assert!(PORT.contains(&80));
    assert!(!PORT.contains(&0));
    assert_eq!(
        NetworkConfig::MAX_RETRIES_BOUNDS.start_bound(),
        Bound::Unbounded
    );
    assert_eq!(
        NetworkConfig::MAX_RETRIES_BOUNDS.end_bound(),
        Bound::Included(&50)
    );
    assert_eq!(NetworkConfig::TIMEOUT_BOUNDS.to_string(), "0..=300");
}

#[test]
fn new_const_builds_in_const_context() {
    const CFG: NetworkConfig = NetworkConfig::new_const(8080, 30, 3, String::new());
    assert_eq!(CFG.port(), 8080);
    assert_eq!(CFG.max_retries(), 3);
}

#[test]
#[should_panic(expected = "NetworkConfig::new_const: port must be in 1..=65535")]
fn new_const_panics_at_run_time_on_a_bad_value() {
    let port = std::hint::black_box(0);
    let _ = NetworkConfig::new_const(port, 30, 3, String::new());
}

#[derive(Bounded, Debug)]
struct RangeForms {
    #[bounded(1..=10)]
    inclusive: i32,
    #[bounded(1..10)]
    half_open: i32,
    #[bounded(1..)]
    at_least: i32,
    #[bounded(..=10)]
    at_most: i32,
    #[bounded(..10)]
    below: i32,
}

#[test]
fn every_range_form_accepts_its_edges_and_rejects_one_past() {
    let mut r = RangeForms::try_new(1, 1, 1, 1, 1).unwrap();
    assert!(r.set_inclusive(10).is_ok() && r.set_inclusive(1).is_ok());
    assert_eq!(
        r.set_inclusive(11).unwrap_err().to_string(),
        "RangeForms.inclusive must be <= 10, got 11"
    );
    assert_eq!(
        r.set_inclusive(0).unwrap_err().to_string(),
        "RangeForms.inclusive must be >= 1, got 0"
    );
    assert!(r.set_half_open(9).is_ok());
    assert_eq!(
        r.set_half_open(10).unwrap_err().to_string(),
        "RangeForms.half_open must be < 10, got 10"
    );
    assert!(r.set_at_least(i32::MAX).is_ok());
    assert_eq!(
        r.set_at_least(0).unwrap_err().to_string(),
        "RangeForms.at_least must be >= 1, got 0"
    );
    assert!(r.set_at_most(i32::MIN).is_ok() && r.set_at_most(10).is_ok());
    assert!(r.set_at_most(11).is_err());
    assert!(r.set_below(9).is_ok());
    assert_eq!(
        r.set_below(10).unwrap_err().to_string(),
        "RangeForms.below must be < 10, got 10"
    );
    assert_eq!(RangeForms::HALF_OPEN_BOUNDS.to_string(), "1..10");
    assert_eq!(RangeForms::AT_LEAST_BOUNDS.to_string(), "1..");
    assert_eq!(RangeForms::BELOW_BOUNDS.to_string(), "..10");
}

#[derive(Bounded, Debug)]
struct EveryInteger {
    #[bounded(-100..=100)]
    a: i8,
    #[bounded(-1000..1000)]
    b: i16,
    #[bounded(-5..)]
    c: i32,
    #[bounded(i64::MIN..=-5)]
    d: i64,
    #[bounded(..=i128::MAX)]
    e: i128,
    #[bounded(-7..=7)]
    f: isize,
    #[bounded(1..=200)]
    g: u8,
    #[bounded(0..=u16::MAX)]
    h: u16,
    #[bounded(10..)]
    i: u32,
    #[bounded(..u64::MAX)]
    j: u64,
    #[bounded(1..)]
    k: u128,
    #[bounded(..64)]
    l: usize,
}

#[test]
fn every_integer_type_is_checked_at_its_edges() {
    let mut v = EveryInteger::try_new(0, 0, 0, -5, 0, 0, 1, 0, 10, 0, 1, 0).unwrap();
    assert!(v.set_a(-101).is_err() && v.set_a(-100).is_ok() && v.set_a(101).is_err());
    assert!(v.set_b(999).is_ok() && v.set_b(1000).is_err() && v.set_b(-1001).is_err());
    assert!(v.set_c(-5).is_ok() && v.set_c(-6).is_err() && v.set_c(i32::MAX).is_ok());
    assert!(v.set_d(i64::MIN).is_ok() && v.set_d(-4).is_err());
    assert_eq!(
        v.set_d(0).unwrap_err().to_string(),
        "EveryInteger.d must be <= -5, got 0"
    );
    assert!(v.set_e(i128::MAX).is_ok() && v.set_e(i128::MIN).is_ok());
    assert!(v.set_f(7).is_ok() && v.set_f(-8).is_err());
    assert!(v.set_g(0).is_err() && v.set_g(200).is_ok() && v.set_g(201).is_err());
    assert!(v.set_h(u16::MAX).is_ok() && v.set_h(0).is_ok());
    assert!(v.set_i(9).is_err() && v.set_i(u32::MAX).is_ok());
    assert!(v.set_j(u64::MAX).is_err() && v.set_j(u64::MAX - 1).is_ok());
    assert!(v.set_k(0).is_err() && v.set_k(u128::MAX).is_ok());
    assert!(v.set_l(63).is_ok() && v.set_l(64).is_err());
    assert_eq!((v.a(), v.g(), v.l()), (-100, 200, 63));
    assert_eq!(
        EveryInteger::D_BOUNDS.to_string(),
        format!("{}..=-5", i64::MIN)
    );
}

const MIN_PORT: u16 = 1024;
const MAX_PORT: u16 = 49151;

#[derive(Bounded, Debug)]
struct Registered {
    #[bounded(MIN_PORT..=MAX_PORT)]
    port: u16,
    #[bounded(-5..=i64::MAX)]
    offset: i64,
}

#[test]
fn consts_and_type_limits_as_bounds() {
    let mut r = Registered::try_new(1024, -5).unwrap();
    assert_eq!(
        r.set_port(1023).unwrap_err().to_string(),
        "Registered.port must be >= 1024, got 1023"
    );
    assert!(r.set_port(49151).is_ok());
    assert!(r.set_offset(i64::MAX).is_ok());
    assert_eq!(
        r.set_offset(-6).unwrap_err().to_string(),
        "Registered.offset must be >= -5, got -6"
    );
    assert_eq!(r.offset(), i64::MAX);
    assert_eq!(
        Registered::PORT_BOUNDS,
        Bounds::inclusive(MIN_PORT, MAX_PORT)
    );
}

#[derive(Bounded, Debug)]
struct Sample {
    #[bounded(0.0..=1.0)]
    ratio: f64,
    #[bounded(0.0..)]
    weight: f32,
    #[bounded(..0.5)]
    skew: f64,
}

#[test]
fn floats_reject_nan_with_got_nan_even_with_open_bounds() {
    let mut s = Sample::try_new(0.5, 1.0, 0.0).unwrap();
    assert_eq!(
        s.set_ratio(f64::NAN).unwrap_err().to_string(),
        "Sample.ratio must be in 0.0..=1.0, got NaN"
    );
    assert_eq!(s.ratio(), 0.5);
    assert_eq!(
        s.set_weight(f32::NAN).unwrap_err().to_string(),
        "Sample.weight must be in 0.0.., got NaN"
    );
    assert_eq!(
        s.set_skew(f64::NAN).unwrap_err().to_string(),
        "Sample.skew must be in ..0.5, got NaN"
    );
    assert!(s.set_weight(f32::INFINITY).is_ok());
    assert!(s.set_weight(-0.0).is_ok());
    assert_eq!(
        s.set_weight(-0.5).unwrap_err().to_string(),
        "Sample.weight must be >= 0.0, got -0.5"
    );
    assert!(s.set_skew(f64::NEG_INFINITY).is_ok());
    assert_eq!(
        s.set_skew(0.5).unwrap_err().to_string(),
        "Sample.skew must be < 0.5, got 0.5"
    );
    assert!(Sample::try_new(f64::NAN, 1.0, 0.0).is_err());
    const S: Sample = Sample::new_const(1.0, 0.0, -1.0);
    assert_eq!(S.ratio(), 1.0);
}

/// A user type: `Copy + PartialOrd + Debug` with const-constructible bounds.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Celsius(f64);

#[derive(Bounded, Debug)]
struct Thermostat {
    #[bounded(Celsius(5.0)..=Celsius(30.0))]
    target: Celsius,
}

#[test]
fn user_partial_ord_types_are_bounded_too() {
    let mut t = Thermostat::try_new(Celsius(21.0)).unwrap();
    assert_eq!(
        t.set_target(Celsius(35.0)).unwrap_err().to_string(),
        "Thermostat.target must be <= Celsius(30.0), got Celsius(35.0)"
    );
    assert_eq!(
        t.set_target(Celsius(f64::NAN)).unwrap_err().to_string(),
        "Thermostat.target must be in Celsius(5.0)..=Celsius(30.0), got Celsius(NaN)"
    );
    assert_eq!(t.target(), Celsius(21.0));
    t.set_target(Celsius(5.0)).unwrap();
    assert_eq!(t.target(), Celsius(5.0));
}

#[derive(Bounded, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[bounded(1..=65535)]
pub struct Port(u16);

#[derive(Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(0..10)]
pub struct Digit(u8);

#[derive(Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(0.0..)]
pub struct Meters(f64);

#[derive(Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(Celsius(-273.15)..)]
pub struct Physical(Celsius);

#[test]
fn newtypes_check_on_every_way_in() {
    let port = Port::try_new(8080).unwrap();
    assert_eq!(port.get(), 8080);
    assert_eq!(u16::from(port), 8080);
    assert_eq!(Port::try_from(443), Ok(Port::new_const(443)));
    let err = Port::try_new(0).unwrap_err();
    assert_eq!(err.to_string(), "Port must be in 1..=65535, got 0");
    assert_eq!(err.type_name(), "Port");
    assert_eq!(err.field(), None);
    assert_eq!(Port::MIN.get(), 1);
    assert_eq!(Port::MAX.get(), 65535);
    assert_eq!(Port::BOUNDS, Bounds::inclusive(1, 65535));
    const HTTP: Port = Port::new_const(80);
    assert_eq!(HTTP.get(), 80);
    let from: Result<Port, _> = 0u16.try_into();
    assert!(from.is_err());

    assert_eq!((Digit::MIN.get(), Digit::MAX.get()), (0, 9));
    assert_eq!(
        Digit::try_new(10).unwrap_err().to_string(),
        "Digit must be in 0..10, got 10"
    );
    assert_eq!(Meters::MIN.get(), 0.0);
    assert_eq!(Meters::MAX.get(), f64::INFINITY);
    assert_eq!(
        Meters::try_new(f64::NAN).unwrap_err().to_string(),
        "Meters must be in 0.0.., got NaN"
    );
    assert_eq!(Physical::MIN.get(), Celsius(-273.15));
    assert!(Physical::try_new(Celsius(-300.0)).is_err());
}

/// A field of a bounded newtype type needs no attribute: the type carries its bounds.
#[derive(Bounded, Debug)]
struct Listener {
    port: Port,
    #[bounded(1..=1024)]
    backlog: u16,
}

#[test]
fn newtype_fields_carry_their_own_bounds() {
    const L: Listener = Listener::new_const(Port::new_const(80), 128);
    assert_eq!(L.port.get(), 80);
    let l = Listener::try_new(Port::try_new(8080).unwrap(), 1).unwrap();
    assert_eq!((l.port.get(), l.backlog()), (8080, 1));
}

#[derive(Bounded, Debug)]
struct Rgb(#[bounded(..=255)] u16, #[bounded(..=255)] u16, u16);

#[test]
fn tuple_structs_use_positional_accessors() {
    let mut c = Rgb::try_new(1, 2, 999).unwrap();
    assert_eq!((c.get_0(), c.get_1(), c.2), (1, 2, 999));
    assert_eq!(
        c.set_1(256).unwrap_err().to_string(),
        "Rgb.1 must be <= 255, got 256"
    );
    assert_eq!(c.get_1(), 2);
    assert_eq!(Rgb::BOUNDS_0.to_string(), "..=255");
}

#[derive(Bounded, Debug)]
struct Labeled<L: Clone> {
    #[bounded(0..=10)]
    level: u8,
    label: L,
}

#[test]
fn generic_structs_bound_their_concrete_fields() {
    let mut l = Labeled::try_new(3, "warn").unwrap();
    assert!(l.set_level(11).is_err());
    assert_eq!((l.level(), l.label), (3, "warn"));
    const L: Labeled<&str> = Labeled::new_const(10, "max");
    assert_eq!(L.level(), 10);
}

#[derive(Bounded, Debug)]
struct Keywords {
    #[bounded(1..=3)]
    r#type: u8,
}

#[test]
fn raw_identifier_fields() {
    let mut k = Keywords::try_new(1).unwrap();
    assert!(k.set_type(4).is_err());
    assert_eq!(k.r#type(), 1);
    assert_eq!(Keywords::TYPE_BOUNDS.to_string(), "1..=3");
}

/// `Option<T>` fields, as pydantic's `Optional[conint(ge=1, le=100)]`: `None` is accepted,
/// `Some(v)` is checked against the range. The path may be spelled any std way.
#[derive(Bounded, Debug, Clone, PartialEq)]
pub struct Retry {
    #[bounded(1..=100)]
    attempts: Option<u32>,
    #[bounded(..=65535)]
    port: std::option::Option<u32>,
    #[bounded(0.0..1.0)]
    jitter: core::option::Option<f64>,
    #[bounded(Celsius(-273.15)..)]
    floor: Option<Celsius>,
    #[bounded(0..)]
    unchecked: Option<u64>,
}

#[test]
fn option_fields_accept_none_and_check_some() {
    let mut r = Retry::try_new(None, None, None, None, None).unwrap();
    assert_eq!(
        (r.attempts(), r.port(), r.jitter(), r.floor(), r.unchecked()),
        (None, None, None, None, None)
    );
    let r2 = Retry::try_new(
        Some(1),
        Some(65535),
        Some(0.0),
        Some(Celsius(-273.15)),
        Some(0),
    )
    .unwrap();
    assert_eq!(r2.attempts(), Some(1));
    assert_eq!(r2.jitter(), Some(0.0));
    assert_eq!(r2.floor(), Some(Celsius(-273.15)));

    for (attempts, message) in [
        (0, "Retry.attempts must be >= 1, got 0"),
        (101, "Retry.attempts must be <= 100, got 101"),
    ] {
        let err = Retry::try_new(Some(attempts), None, None, None, None).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.field(), Some("attempts"));
        assert_eq!(err.value(), attempts.to_string());
    }
    let err = Retry::try_new(None, Some(99999), None, None, None).unwrap_err();
    assert_eq!(err.to_string(), "Retry.port must be <= 65535, got 99999");
    let err = Retry::try_new(None, None, Some(f64::NAN), None, None).unwrap_err();
    assert!(err.to_string().starts_with("Retry.jitter"), "{err}");
    let err = Retry::try_new(None, None, None, Some(Celsius(-300.0)), None).unwrap_err();
    assert!(err.to_string().starts_with("Retry.floor must be"), "{err}");

    // Setters: None and in-range Some are stored; out of range leaves the field as it was.
    r.set_attempts(Some(50)).unwrap();
    assert_eq!(r.attempts(), Some(50));
    let err = r.set_attempts(Some(101)).unwrap_err();
    assert_eq!(err.to_string(), "Retry.attempts must be <= 100, got 101");
    assert_eq!(
        r.attempts(),
        Some(50),
        "a rejected value leaves the field unchanged"
    );
    r.set_attempts(None).unwrap();
    assert_eq!(r.attempts(), None);
    let err = r.set_jitter(Some(1.0)).unwrap_err();
    assert_eq!(err.to_string(), "Retry.jitter must be < 1.0, got 1.0");
    assert_eq!(
        r.jitter(),
        None,
        "a rejected value leaves the field unchanged"
    );
    r.set_unchecked(Some(u64::MAX)).unwrap();
    assert_eq!(r.unchecked(), Some(u64::MAX));

    // The bounds constant bounds the value inside `Some`.
    assert_eq!(Retry::ATTEMPTS_BOUNDS, Bounds::inclusive(1u32, 100));
    assert!(Retry::ATTEMPTS_BOUNDS.contains(&100));

    // validate() checks what code in this module wrote directly.
    r.attempts = Some(0);
    let err = r.validate().unwrap_err();
    assert_eq!(err.to_string(), "Retry.attempts must be >= 1, got 0");
    r.attempts = None;
    assert_eq!(r.validate(), Ok(()));
}

#[derive(Bounded, Debug, Clone, Copy, PartialEq)]
struct OptionalPair(#[bounded(1..=9)] Option<u8>, Option<u8>);

const OPTIONAL_PAIR: OptionalPair = OptionalPair::new_const(Some(9), Some(200));
const OPTIONAL_NONE: OptionalPair = OptionalPair::new_const(None, None);

#[test]
fn option_tuple_fields_and_new_const() {
    assert_eq!(OPTIONAL_PAIR.get_0(), Some(9));
    assert_eq!(OPTIONAL_NONE.get_0(), None);
    let mut pair = OptionalPair::try_new(None, None).unwrap();
    let err = pair.set_0(Some(10)).unwrap_err();
    assert_eq!(err.to_string(), "OptionalPair.0 must be <= 9, got 10");
    assert_eq!(pair.get_0(), None);
}

#[test]
#[should_panic(expected = "OptionalPair::new_const: 0 must be in 1..=9")]
fn option_new_const_panics_at_run_time_on_a_bad_some() {
    let _ = OptionalPair::new_const(Some(std::hint::black_box(0)), None);
}

mod renamed {
    //! The dependency seen under another name: `crate = path` points generated code at it.
    use my_keel::Bounded;

    #[derive(Bounded, Debug)]
    #[bounded(crate = my_keel)]
    pub struct Timeout {
        #[bounded(1..=60)]
        pub secs: u8,
    }

    #[derive(Bounded, Clone, Copy, Debug)]
    #[bounded(1..=9, crate = "my_keel")]
    pub struct Level(pub(super) u8);

    #[test]
    fn crate_path_option_names_the_renamed_crate() {
        let mut t = Timeout::try_new(5).unwrap();
        let err: my_keel::BoundsError = t.set_secs(61).unwrap_err();
        assert_eq!(err.to_string(), "Timeout.secs must be <= 60, got 61");
        assert_eq!(
            Level::try_new(0).unwrap_err().to_string(),
            "Level must be in 1..=9, got 0"
        );
    }
}

mod serde_support {
    use super::{Celsius, Meters, Port};
    use keel::Bounded;

    /// A newtype over a user type: serde's own derive, through the generated conversions.
    #[derive(Bounded, Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(try_from = "Celsius", into = "Celsius")]
    #[bounded(Celsius(-273.15)..)]
    struct Temperature(Celsius);

    impl serde::Serialize for Celsius {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_f64(self.0)
        }
    }

    impl<'de> serde::Deserialize<'de> for Celsius {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            f64::deserialize(d).map(Celsius)
        }
    }

    #[test]
    fn user_type_newtypes_use_serde_try_from() {
        let t: Temperature = serde_json::from_str("21.5").unwrap();
        assert_eq!(t.get(), Celsius(21.5));
        assert_eq!(serde_json::to_string(&t).unwrap(), "21.5");
        let err = serde_json::from_str::<Temperature>("-300.0").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Temperature must be in Celsius(-273.15).., got Celsius(-300.0)"),
            "{err}"
        );
    }

    #[test]
    fn newtypes_serialize_transparently_and_deserialize_with_validation() {
        let port = Port::try_new(8080).unwrap();
        assert_eq!(serde_json::to_string(&port).unwrap(), "8080");
        let back: Port = serde_json::from_str("8080").unwrap();
        assert_eq!(back, port);
        let err = serde_json::from_str::<Port>("0").unwrap_err();
        assert_eq!(err.to_string(), "Port must be in 1..=65535, got 0");
        let list: Vec<Meters> = serde_json::from_str("[0.5, 2.0]").unwrap();
        assert_eq!(list[1].get(), 2.0);
        let err = serde_json::from_str::<Vec<Meters>>("[1.0, -1.0]").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Meters must be in 0.0.., got -1.0"),
            "{err}"
        );
    }

    /// `#[bounded(deserialize)]`: serde's attributes as usual, then every bound checked.
    #[derive(Bounded, Debug, PartialEq, serde::Serialize)]
    #[bounded(deserialize)]
    struct Cfg {
        #[bounded(1..=64)]
        workers: u32,
        #[serde(rename = "timeout_secs", alias = "timeout")]
        #[bounded(1..=300)]
        timeout: u16,
        #[serde(default = "default_ratio")]
        #[bounded(0.0..=1.0)]
        ratio: f64,
        port: Port,
        name: String,
    }

    fn default_ratio() -> f64 {
        0.5
    }

    /// A tuple struct, and a defaulted bounded field whose default lies out of range.
    #[derive(Bounded, Debug, PartialEq)]
    #[bounded(deserialize)]
    struct Pair(
        #[bounded(..10)] u8,
        #[serde(default)]
        #[bounded(1..)]
        u8,
    );

    fn cfg(json: &str) -> Result<Cfg, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn deserialize_checks_every_bound() {
        let ok = r#"{"workers": 8, "timeout_secs": 30, "ratio": 0.25, "port": 8080, "name": "a"}"#;
        assert_eq!(
            cfg(ok).unwrap(),
            Cfg {
                workers: 8,
                timeout: 30,
                ratio: 0.25,
                port: Port::try_new(8080).unwrap(),
                name: "a".into(),
            }
        );
        for (json, message) in [
            (
                r#"{"workers": 500, "timeout_secs": 30, "ratio": 0.25, "port": 80, "name": "a"}"#,
                "Cfg.workers must be <= 64, got 500",
            ),
            (
                r#"{"workers": 0, "timeout_secs": 30, "ratio": 0.25, "port": 80, "name": "a"}"#,
                "Cfg.workers must be >= 1, got 0",
            ),
            (
                r#"{"workers": 8, "timeout_secs": 301, "ratio": 0.25, "port": 80, "name": "a"}"#,
                "Cfg.timeout must be <= 300, got 301",
            ),
            (
                r#"{"workers": 8, "timeout_secs": 30, "ratio": 1.5, "port": 80, "name": "a"}"#,
                "Cfg.ratio must be <= 1.0, got 1.5",
            ),
            // The nested newtype checks its own range while it is read.
            (
                r#"{"workers": 8, "timeout_secs": 30, "ratio": 0.5, "port": 0, "name": "a"}"#,
                "Port must be in 1..=65535, got 0",
            ),
        ] {
            let error = cfg(json).unwrap_err();
            assert!(error.starts_with(message), "{json}: {error}");
        }
    }

    #[test]
    fn deserialize_honours_rename_alias_and_default() {
        let aliased = cfg(r#"{"workers": 2, "timeout": 5, "port": 1, "name": ""}"#).unwrap();
        assert_eq!((aliased.timeout, aliased.ratio), (5, 0.5));
        let renamed = cfg(r#"{"workers": 2, "timeout_secs": 5, "port": 1, "name": ""}"#);
        assert_eq!(renamed.unwrap(), aliased);
        let error = cfg(r#"{"workers": 2, "port": 1, "name": ""}"#).unwrap_err();
        assert!(error.starts_with("missing field `timeout_secs`"), "{error}");
        // Serialize (serde's derive) writes the renamed key; the round trip reads it back.
        let text = serde_json::to_string(&aliased).unwrap();
        assert!(text.contains(r#""timeout_secs":5"#), "{text}");
        assert_eq!(cfg(&text).unwrap(), aliased);
        // serde's messages name the struct, not a hidden helper.
        let error = cfg("[]").unwrap_err();
        assert!(error.contains("struct Cfg"), "{error}");
    }

    /// An optional bounded field read by `#[bounded(deserialize)]`: missing or `null` is `None`.
    #[derive(Bounded, Debug, PartialEq)]
    #[bounded(deserialize)]
    struct Limits {
        #[bounded(1..=100)]
        max_conns: Option<u32>,
        #[serde(default)]
        #[bounded(1..=60)]
        idle_secs: Option<u8>,
    }

    #[test]
    fn deserialize_accepts_none_and_checks_some() {
        let limits: Limits = serde_json::from_str(r#"{"max_conns": null}"#).unwrap();
        assert_eq!(
            limits,
            Limits {
                max_conns: None,
                idle_secs: None
            }
        );
        let limits: Limits = serde_json::from_str("{}").unwrap();
        assert_eq!(limits.max_conns(), None);
        let limits: Limits = serde_json::from_str(r#"{"max_conns": 100, "idle_secs": 1}"#).unwrap();
        assert_eq!(
            (limits.max_conns(), limits.idle_secs()),
            (Some(100), Some(1))
        );
        let error = serde_json::from_str::<Limits>(r#"{"max_conns": 101}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("Limits.max_conns must be <= 100, got 101"),
            "{error}"
        );
        let error = serde_json::from_str::<Limits>(r#"{"idle_secs": 0}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("Limits.idle_secs must be >= 1, got 0"),
            "{error}"
        );
    }

    #[test]
    fn deserialize_checks_defaults_and_tuple_fields() {
        let pair: Pair = serde_json::from_str("[3, 4]").unwrap();
        assert_eq!(pair, Pair(3, 4));
        let error = serde_json::from_str::<Pair>("[10, 4]")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("Pair.0 must be < 10, got 10"), "{error}");
        // A default is a value like any other: `u8::default()` is below the bound `1..`.
        let error = serde_json::from_str::<Pair>("[3]").unwrap_err().to_string();
        assert!(error.starts_with("Pair.1 must be >= 1, got 0"), "{error}");
    }
}
