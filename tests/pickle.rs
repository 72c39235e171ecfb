//! `keel::pickle` against the real CPython (and numpy) on the machine, both directions, plus
//! the reader's refusals and its behaviour on truncated and corrupted streams.
//!
//! The CPython half runs `tests/python/pickle_interop.py` in a child process; without
//! `python3` (or numpy, for the array cases) those tests print a notice and check only the
//! Rust side.

#![deny(warnings, clippy::all)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use keel::buffer::Buffer;
use keel::pickle::{Encoder, Frames, NdArray, Order, PickleError, from_frames, to_frames};
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------------------------------------
// The Python side

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/pickle_interop.py")
}

#[path = "support/python.rs"]
mod python;

fn python_has(module: &str) -> bool {
    python::python_imports(module)
}

fn python() -> bool {
    let ok = python_has("pickle");
    if !ok {
        println!("    notice: python3 not found; the CPython half of this test is skipped");
    }
    ok
}

fn numpy() -> bool {
    let ok = python_has("numpy");
    if !ok {
        println!("    notice: numpy not importable; the numpy cases are skipped");
    }
    ok
}

fn run_script(mode: &str, dir: &Path) -> String {
    let out = Command::new("python3")
        .arg(script())
        .arg(mode)
        .arg(dir)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python {mode} failed:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn write_frames(dir: &Path, frames: &Frames) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("inband.bin"), &frames.inband).unwrap();
    for (i, b) in frames.buffers.iter().enumerate() {
        std::fs::write(dir.join(format!("buf{i}.bin")), b).unwrap();
    }
}

fn read_frames(dir: &Path) -> Frames {
    let inband = std::fs::read(dir.join("inband.bin")).unwrap();
    let mut buffers = Vec::new();
    while let Ok(b) = std::fs::read(dir.join(format!("buf{}.bin", buffers.len()))) {
        buffers.push(Buffer::from(b));
    }
    Frames { inband, buffers }
}

/// Values keel pickles, each checked by CPython against a Python expression.
struct ToPython {
    dir: tempfile::TempDir,
    cases: String,
    count: usize,
}

impl ToPython {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            cases: String::new(),
            count: 0,
        }
    }

    fn frames(&mut self, name: &str, frames: &Frames, expected: &str) {
        write_frames(&self.dir.path().join(name), frames);
        self.cases.push_str(&format!("{name}\t{expected}\n"));
        self.count += 1;
    }

    fn add<T: Serialize + ?Sized>(&mut self, name: &str, value: &T, expected: &str) {
        let frames = to_frames(value).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every value also reads back on the Rust side through the same frames.
        self.frames(name, &frames, expected);
    }

    fn check(self) {
        std::fs::write(self.dir.path().join("cases"), &self.cases).unwrap();
        let out = run_script("load", self.dir.path());
        let ok = out.lines().filter(|l| l.starts_with("ok ")).count();
        assert_eq!(ok, self.count, "{out}");
    }
}

/// Python expressions CPython pickles for keel to read.
struct FromPython {
    dir: tempfile::TempDir,
    cases: String,
}

impl FromPython {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            cases: String::new(),
        }
    }

    fn add(&mut self, name: &str, protocol: u8, expression: &str) {
        self.cases
            .push_str(&format!("{name}\t{protocol}\t{expression}\n"));
    }

    fn run(self) -> Dumped {
        std::fs::write(self.dir.path().join("cases"), &self.cases).unwrap();
        run_script("dump", self.dir.path());
        Dumped { dir: self.dir }
    }
}

struct Dumped {
    dir: tempfile::TempDir,
}

impl Dumped {
    fn frames(&self, name: &str) -> Frames {
        read_frames(&self.dir.path().join(name))
    }

    fn load<T: for<'de> Deserialize<'de>>(&self, name: &str) -> T {
        let frames = self.frames(name);
        from_frames(&frames.inband, &frames.buffers).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn error<T: for<'de> Deserialize<'de> + std::fmt::Debug>(&self, name: &str) -> PickleError {
        let frames = self.frames(name);
        from_frames::<T>(&frames.inband, &frames.buffers).unwrap_err()
    }
}

// ------------------------------------------------------------------------------------------
// Shared test types

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u32, u32),
    Named { name: String, sides: u8 },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Inner {
    label: String,
    weight: Option<f32>,
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Record {
    id: u64,
    big: u128,
    negative: i128,
    ratio: f64,
    ok: bool,
    nothing: Option<u8>,
    text: String,
    pair: (i16, String),
    triple: (u8, u8, u8),
    quad: (u8, bool, String, f64),
    inner: Vec<Inner>,
    shapes: Vec<Shape>,
    by_id: BTreeMap<u32, String>,
    empty_list: Vec<u8>,
    empty_map: BTreeMap<String, u8>,
}

fn record() -> Record {
    Record {
        id: u64::MAX,
        big: u128::MAX,
        negative: i128::MIN,
        ratio: -0.5,
        ok: true,
        nothing: None,
        text: "héllo, wörld — 日本語 🎉\0".into(),
        pair: (-300, "x".repeat(300)),
        triple: (1, 2, 3),
        quad: (4, false, String::new(), f64::INFINITY),
        inner: vec![
            Inner {
                label: "a".into(),
                weight: Some(0.25),
                tags: vec!["t1".into(), "t2".into()],
            },
            Inner {
                label: "b".into(),
                weight: None,
                tags: vec![],
            },
        ],
        shapes: vec![
            Shape::Empty,
            Shape::Circle(1.5),
            Shape::Rect(3, 4),
            Shape::Named {
                name: "hex".into(),
                sides: 6,
            },
        ],
        by_id: (0..5).map(|i| (i * 70000, format!("v{i}"))).collect(),
        empty_list: vec![],
        empty_map: BTreeMap::new(),
    }
}

const RECORD_PY: &str = "{'id': 2**64-1, 'big': 2**128-1, 'negative': -2**127, 'ratio': -0.5, \
    'ok': True, 'nothing': None, 'text': 'héllo, wörld — 日本語 🎉\\x00', \
    'pair': (-300, 'x'*300), 'triple': (1, 2, 3), 'quad': (4, False, '', float('inf')), \
    'inner': [{'label': 'a', 'weight': 0.25, 'tags': ['t1', 't2']}, \
              {'label': 'b', 'weight': None, 'tags': []}], \
    'shapes': ['Empty', {'Circle': 1.5}, {'Rect': (3, 4)}, {'Named': {'name': 'hex', 'sides': 6}}], \
    'by_id': {i*70000: f'v{i}' for i in range(5)}, 'empty_list': [], 'empty_map': {}}";

// ------------------------------------------------------------------------------------------
// Rust → CPython

#[test]
fn cpython_loads_what_keel_writes() {
    // The Rust side round-trips whatever the Python side checks.
    let back: Record = to_frames(&record()).unwrap().load().unwrap();
    assert_eq!(back, record());
    if !python() {
        return;
    }
    let mut py = ToPython::new();
    py.add("record", &record(), RECORD_PY);
    py.add("none", &None::<u8>, "None");
    py.add("unit", &(), "None");
    for (i, v) in [
        0i128,
        255,
        256,
        65535,
        65536,
        -1,
        -256,
        i32::MIN.into(),
        i32::MAX.into(),
        i64::MIN.into(),
        i64::MAX.into(),
        u64::MAX.into(),
        i128::MIN,
        i128::MAX,
    ]
    .into_iter()
    .enumerate()
    {
        py.add(&format!("int{i}"), &v, &v.to_string());
    }
    py.add("u128max", &u128::MAX, "2**128-1");
    py.add("u64big", &(1u64 << 63), "2**63");
    py.add(
        "floats",
        &vec![
            0.0,
            -0.0,
            1e300,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ],
        "[0.0, -0.0, 1e300, 2.2250738585072014e-308, float('nan'), float('inf'), float('-inf')]",
    );
    py.add(
        "f32",
        &0.1f32,
        "float(np.float32(0.1)) if np else 0.10000000149011612",
    );
    py.add("char", &'é', "'é'");
    py.add("empty_str", &"", "''");
    py.add("long_str", &"ü".repeat(40_000), "'ü'*40000");
    py.add(
        "list_2500",
        &(0..2500).collect::<Vec<u32>>(),
        "list(range(2500))",
    );
    py.add(
        "dict_1500",
        &(0..1500)
            .map(|i| (i, i * 2))
            .collect::<BTreeMap<u32, u32>>(),
        "{i: i*2 for i in range(1500)}",
    );
    py.add(
        "hash_map",
        &HashMap::from([("k".to_string(), vec![Some(1u8), None])]),
        "{'k': [1, None]}",
    );
    py.add("tuple1", &(1u8,), "(1,)");
    py.add("set_as_list", &BTreeSet::from([3u8, 1, 2]), "[1, 2, 3]");
    py.add("nested", &vec![vec![vec![1u8]], vec![]], "[[[1]], []]");
    let in_band = Encoder::new()
        .threshold(usize::MAX)
        .to_frames(&Buffer::from(vec![0u8, 1, 255]))
        .unwrap();
    assert!(in_band.buffers.is_empty());
    py.frames("bytes_in_band", &in_band, "b'\\x00\\x01\\xff'");
    py.add(
        "buffer_oob",
        &("x", Buffer::from(b"payload".to_vec())),
        "('x', memoryview(b'payload').toreadonly())",
    );
    py.check();
}

#[test]
fn numpy_loads_keel_arrays() {
    if !python() || !numpy() {
        return;
    }
    let mut py = ToPython::new();
    macro_rules! each_dtype {
        ($($t:ty => $np:literal),*) => {$(
            let values: Vec<$t> = (0u8..5).map(|i| <$t>::from(i) * <$t>::from(3u8)).collect();
            py.add(
                concat!("array_", $np),
                &NdArray::from_vec(values),
                concat!("np.arange(5, dtype='", $np, "') * 3"),
            );
            py.add(
                concat!("empty_", $np),
                &NdArray::<$t>::from_vec(vec![]),
                concat!("np.zeros(0, dtype='", $np, "')"),
            );
        )*};
    }
    each_dtype!(u8 => "u1", u16 => "u2", u32 => "u4", u64 => "u8", i16 => "i2", i32 => "i4",
        i64 => "i8", f32 => "f4", f64 => "f8");
    py.add(
        "array_i1",
        &NdArray::from_vec(vec![-1i8, 0, 127]),
        "np.array([-1, 0, 127], dtype='i1')",
    );
    let c = NdArray::from_vec((0..6).map(f64::from).collect())
        .reshape(&[2, 3], Order::C)
        .unwrap();
    py.add("array_2d_c", &c, "np.arange(6.0).reshape(2, 3)");
    let f = NdArray::from_vec((0..6).map(f64::from).collect())
        .reshape(&[2, 3], Order::Fortran)
        .unwrap();
    py.add("array_2d_f", &f, "np.arange(6.0).reshape(3, 2).T");
    let zero = NdArray::<f32>::from_vec(vec![])
        .reshape(&[0, 4], Order::C)
        .unwrap();
    py.add("array_0x4", &zero, "np.zeros((0, 4), dtype='f4')");
    let borrowed = [1.5f64, 2.5];
    py.add(
        "array_borrowed",
        &NdArray::from_slice(&borrowed),
        "np.array([1.5, 2.5])",
    );
    #[derive(Serialize)]
    struct Columns {
        name: &'static str,
        xs: NdArray<'static, f64>,
        ids: NdArray<'static, u32>,
    }
    py.add(
        "columns",
        &Columns {
            name: "c",
            xs: NdArray::from_vec(vec![0.5; 3]),
            ids: NdArray::from_vec(vec![7; 2]),
        },
        "{'name': 'c', 'xs': np.full(3, 0.5), 'ids': np.full(2, 7, dtype='u4')}",
    );
    py.check();
}

// ------------------------------------------------------------------------------------------
// CPython → Rust

/// `({1, 2}, frozenset([3]), set(), frozenset(), {(1, 'a')})`.
type Sets = (
    BTreeSet<u8>,
    BTreeSet<u8>,
    BTreeSet<u8>,
    Vec<u8>,
    Vec<(u8, String)>,
);

#[test]
fn keel_reads_what_cpython_writes() {
    if !python() {
        return;
    }
    let mut py = FromPython::new();
    for p in 2..=5 {
        py.add(&format!("record{p}"), p, RECORD_PY);
        py.add(
            &format!("sets{p}"),
            p,
            "({1, 2}, frozenset([3]), set(), frozenset(), {(1, 'a')})",
        );
        py.add(
            &format!("bytes{p}"),
            p,
            "(b'', b'ab\\xff', bytearray(b'x'), bytearray(), b'\\x00' * 300)",
        );
        py.add(
            &format!("ints{p}"),
            p,
            "[0, -1, 255, 256, 65536, -2**31, 2**63, -2**63, 2**64-1, 2**100, -2**127]",
        );
        py.add(
            &format!("floats{p}"),
            p,
            "[float('nan'), float('inf'), -float('inf'), -0.0, 1e-310]",
        );
        py.add(&format!("shared{p}"), p, "[['s'] * 3, 's', 'longer ' * 3]");
    }
    py.add("huge_int", 5, "2**200");
    py.add("bool_int", 5, "[True, 1]");
    py.add(
        "pickle_buffers",
        5,
        "[pickle.PickleBuffer(b'readonly'), pickle.PickleBuffer(bytearray(b'writable'))]",
    );
    py.add("unicode", 5, "['', 'ascii', 'é' * 300, '🎉' * 70000]");
    let got = py.run();
    for p in 2..=5 {
        assert_eq!(
            got.load::<Record>(&format!("record{p}")),
            record(),
            "protocol {p}"
        );
        let (a, b, c, d, e): Sets = got.load(&format!("sets{p}"));
        assert_eq!(
            (a, b, c, d, e),
            (
                BTreeSet::from([1, 2]),
                BTreeSet::from([3]),
                BTreeSet::new(),
                vec![],
                vec![(1, "a".into())]
            ),
            "protocol {p}"
        );
        let bytes: (Buffer, Buffer, Buffer, Vec<u8>, Buffer) = got.load(&format!("bytes{p}"));
        assert_eq!(bytes.0, b"".as_slice(), "protocol {p}");
        assert_eq!(bytes.1, b"ab\xff".as_slice(), "protocol {p}");
        assert_eq!(bytes.2, b"x".as_slice(), "protocol {p}");
        assert_eq!(bytes.3, b"".as_slice(), "protocol {p}");
        assert_eq!(bytes.4, [0u8; 300].as_slice(), "protocol {p}");
        let ints: (u8, i8, u8, u16, u32, i32, u64, i64, u64, u128, i128) =
            got.load(&format!("ints{p}"));
        assert_eq!(
            ints,
            (
                0,
                -1,
                255,
                256,
                65536,
                i32::MIN,
                1 << 63,
                i64::MIN,
                u64::MAX,
                1 << 100,
                i128::MIN
            ),
            "protocol {p}"
        );
        let floats: Vec<f64> = got.load(&format!("floats{p}"));
        assert!(floats[0].is_nan());
        assert_eq!(floats[1..3], [f64::INFINITY, f64::NEG_INFINITY]);
        assert!(floats[3] == 0.0 && floats[3].is_sign_negative());
        assert_eq!(floats[4], 1e-310);
        // CPython memoizes the repeated 's' and the list: shared references read as copies.
        let shared: (Vec<String>, String, String) = got.load(&format!("shared{p}"));
        assert_eq!(shared.0, ["s", "s", "s"]);
        assert_eq!(shared.2, "longer longer longer ");
    }
    let err = got.error::<u128>("huge_int");
    assert!(
        err.to_string().contains("does not fit in 128 bits"),
        "{err}"
    );
    assert_eq!(got.load::<(bool, u8)>("bool_int"), (true, 1));
    assert_eq!(
        got.load::<Vec<String>>("unicode"),
        [
            "".to_string(),
            "ascii".into(),
            "é".repeat(300),
            "🎉".repeat(70000)
        ]
    );

    // Out-of-band PickleBuffers: the Buffer read is the one given, not a copy.
    let frames = got.frames("pickle_buffers");
    assert_eq!(frames.buffers.len(), 2);
    let bufs: Vec<Buffer> = from_frames(&frames.inband, &frames.buffers).unwrap();
    assert_eq!(bufs, [&b"readonly"[..], &b"writable"[..]]);
    for (read, given) in bufs.iter().zip(&frames.buffers) {
        assert_eq!(read.as_ptr(), given.as_ptr());
    }
    // Fewer buffers than the stream asks for is an error.
    let err = from_frames::<Vec<Buffer>>(&frames.inband, &frames.buffers[..1]).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::MissingBuffer {
                index: 1,
                count: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn keel_reads_numpy_arrays() {
    if !python() || !numpy() {
        return;
    }
    let mut py = FromPython::new();
    for dt in ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"] {
        py.add(
            &format!("a_{dt}"),
            5,
            &format!("np.arange(7, dtype='{dt}')"),
        );
        py.add(&format!("e_{dt}"), 5, &format!("np.zeros(0, dtype='{dt}')"));
        py.add(
            &format!("p4_{dt}"),
            4,
            &format!("np.arange(3, dtype='{dt}')"),
        );
    }
    py.add("c2d", 5, "np.arange(12.0).reshape(3, 4)");
    py.add("f2d", 5, "np.asfortranarray(np.arange(12.0).reshape(3, 4))");
    py.add("strided", 5, "np.arange(10.0)[::2]");
    py.add("big_endian", 5, "np.arange(3, dtype='>i4')");
    py.add("bools", 5, "np.array([True, False, True])");
    py.add("in_band5", 5, "np.arange(3.0)");
    py.add(
        "dict_of_arrays",
        5,
        "{'x': np.arange(4.0), 'y': np.ones(2, dtype='i8')}",
    );
    py.add(
        "structured",
        5,
        "np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')])",
    );
    let got = py.run();
    macro_rules! each {
        ($($t:ty => $dt:literal),*) => {$(
            let frames = got.frames(concat!("a_", $dt));
            assert_eq!(frames.buffers.len(), 1);
            let a: NdArray<'static, $t> = frames.load().unwrap();
            let want: Vec<$t> = (0i8..7).map(|i| i as $t).collect();
            assert_eq!(a.as_slice(), want.as_slice());
            assert_eq!(a.shape(), [7]);
            // The array is the buffer that was given: no copy.
            assert_eq!(a.as_slice().as_ptr().cast::<u8>(), frames.buffers[0].as_ptr());
            let e: NdArray<'static, $t> = got.load(concat!("e_", $dt));
            assert_eq!((e.as_slice().len(), e.shape()), (0, &[0usize][..]));
            let p4: NdArray<'static, $t> = got.load(concat!("p4_", $dt));
            assert_eq!(p4.as_slice(), &want[..3]);
            let as_vec: Vec<f64> = got.load(concat!("a_", $dt));
            assert_eq!(as_vec, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        )*};
    }
    each!(u8 => "u1", i8 => "i1", u16 => "u2", i16 => "i2", u32 => "u4", i32 => "i4",
        u64 => "u8", i64 => "i8", f32 => "f4", f64 => "f8");
    let c: NdArray<'static, f64> = got.load("c2d");
    assert_eq!((c.shape(), c.order()), (&[3usize, 4][..], Order::C));
    assert_eq!(c.as_slice()[5], 5.0);
    let f: NdArray<'static, f64> = got.load("f2d");
    assert_eq!((f.shape(), f.order()), (&[3usize, 4][..], Order::Fortran));
    assert_eq!(f.as_slice()[..3], [0.0, 4.0, 8.0]); // column-major memory
    // Non-contiguous: numpy copies it in band (`_reconstruct`); keel reads that copy.
    let frames = got.frames("strided");
    assert!(frames.buffers.is_empty());
    let s: NdArray<'static, f64> = frames.load().unwrap();
    assert_eq!(s.as_slice(), [0.0, 2.0, 4.0, 6.0, 8.0]);
    // A byte order that is not native: refused as NdArray<i32>, read element-wise as a Vec.
    let err = got.error::<NdArray<'static, i32>>("big_endian");
    assert!(err.to_string().contains(">i4"), "{err}");
    assert_eq!(got.load::<Vec<i32>>("big_endian"), [0, 1, 2]);
    assert_eq!(got.load::<Vec<bool>>("bools"), [true, false, true]);
    let err = got.error::<NdArray<'static, f32>>("in_band5");
    assert!(err.to_string().contains("<f8"), "{err}");
    #[derive(Deserialize)]
    struct Xy {
        x: NdArray<'static, f64>,
        y: Buffer,
    }
    let frames = got.frames("dict_of_arrays");
    let xy: Xy = frames.load().unwrap();
    assert_eq!(xy.x.as_slice(), [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(xy.y.as_ptr(), frames.buffers[1].as_ptr()); // an array read as a Buffer
    let err = got.error::<NdArray<'static, f64>>("structured");
    assert!(err.to_string().contains("structured"), "{err}");
}

// ------------------------------------------------------------------------------------------
// Refusals, truncation, corruption

#[test]
fn globals_are_refused_with_their_name() {
    // Protocol 0's classic: os.system('echo pwned') through GLOBAL + REDUCE.
    let classic = b"cos\nsystem\n(S'echo pwned'\ntR.";
    let err = from_frames::<()>(classic, &[]).unwrap_err();
    assert_eq!(
        err,
        PickleError::Forbidden {
            module: "os".into(),
            name: "system".into(),
            opcode: "GLOBAL",
            offset: 0
        }
    );
    assert!(err.to_string().contains("`os.system`"), "{err}");
    // INST names its class inline.
    let inst = b"(U\x01xisubprocess\nPopen\n.";
    let err = from_frames::<()>(inst, &[]).unwrap_err();
    assert!(err.to_string().contains("subprocess.Popen"), "{err}");
    // A known name used the wrong way is refused too: calling numpy.ndarray, NEWOBJ.
    let newobj = b"\x80\x05\x8c\x08builtins\x8c\x03set\x93)\x81.";
    let err = from_frames::<()>(newobj, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::Unsupported {
                opcode: "NEWOBJ",
                ..
            }
        ),
        "{err}"
    );

    if !python() {
        return;
    }
    let mut py = FromPython::new();
    py.add("system", 5, "__import__('os').system");
    py.add("ordered", 4, "__import__('collections').OrderedDict(a=1)");
    py.add("eval_in_list", 2, "[1, eval]");
    let got = py.run();
    let err = got.error::<()>("system");
    assert!(err.to_string().contains("`posix.system`"), "{err}");
    let err = got.error::<BTreeMap<String, u8>>("ordered");
    assert!(
        err.to_string().contains("`collections.OrderedDict`"),
        "{err}"
    );
    let err = got.error::<Vec<u8>>("eval_in_list");
    assert!(err.to_string().contains("`__builtin__.eval`"), "{err}");
}

#[test]
fn truncated_and_corrupted_streams_are_errors() {
    let value = record();
    let frames = to_frames(&(value, Buffer::from(vec![1u8; 64]))).unwrap();
    // Every strict prefix is an error (never a panic).
    for end in 0..frames.inband.len() {
        let r = from_frames::<(Record, Buffer)>(&frames.inband[..end], &frames.buffers);
        assert!(r.is_err(), "prefix of {end} bytes read");
    }
    let err = from_frames::<Record>(&frames.inband[..20], &[]).unwrap_err();
    assert!(matches!(err, PickleError::Truncated { .. }), "{err}");
    // Every single-byte corruption reads or fails cleanly; none panics.
    let mut rejected = 0;
    for i in 0..frames.inband.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = frames.inband.clone();
            bad[i] ^= flip;
            rejected +=
                usize::from(from_frames::<(Record, Buffer)>(&bad, &frames.buffers).is_err());
        }
    }
    assert!(rejected > frames.inband.len(), "{rejected}");
    // Bytes after STOP.
    let mut trailing = to_frames(&1u8).unwrap().inband;
    trailing.push(b'N');
    let err = from_frames::<u8>(&trailing, &[]).unwrap_err();
    assert!(
        matches!(err, PickleError::TrailingBytes { count: 1, .. }),
        "{err}"
    );
    // A protocol from the future.
    let err = from_frames::<u8>(b"\x80\x06K\x01.", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pickle protocol 6 at byte 0; keel reads protocols 0 to 5"
    );
}

#[test]
fn deep_and_expanding_streams_are_limited() {
    // 100 000 nested lists: built without recursion, refused when read, dropped safely.
    let mut deep = b"\x80\x05".to_vec();
    deep.extend(std::iter::repeat_n(b']', 100_000));
    deep.extend(std::iter::repeat_n(b'a', 99_999));
    deep.push(b'.');
    let err = from_frames::<serde_json::Value>(&deep, &[]).unwrap_err();
    assert!(matches!(err, PickleError::Limit(_)), "{err}");
    // A list that holds itself twice, 40 times over: 2^40 elements through shared references.
    let mut bomb = b"\x80\x05]\x94(K\x01K\x02e".to_vec();
    for i in 0..40u8 {
        bomb.extend_from_slice(&[b']', 0x94, b'(', b'h', i, b'h', i, b'e']);
    }
    bomb.push(b'.');
    // Ignoring it expands nothing.
    from_frames::<serde::de::IgnoredAny>(&bomb, &[]).unwrap();
    let err = from_frames::<serde_json::Value>(&bomb, &[]).unwrap_err();
    assert!(matches!(err, PickleError::Limit(_)), "{err}");
}

// ------------------------------------------------------------------------------------------
// Rust ⇄ Rust

#[test]
fn round_trips_without_copies() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Frame {
        id: u32,
        pixels: Buffer,
        small: Buffer,
        column: NdArray<'static, i64>,
    }
    let frame = Frame {
        id: 3,
        pixels: Buffer::from(vec![9u8; 100_000]),
        small: Buffer::from_static(b"hi"),
        column: NdArray::from_vec((0..1000).collect()),
    };
    let frames = Encoder::new().threshold(16).to_frames(&frame).unwrap();
    assert_eq!(frames.buffers.len(), 2); // `small` stays in band
    assert_eq!(frames.buffers[0].as_ptr(), frame.pixels.as_ptr());
    let back: Frame = frames.load().unwrap();
    assert_eq!(back, frame);
    assert_eq!(back.pixels.as_ptr(), frame.pixels.as_ptr());
    assert_eq!(
        back.column.as_slice().as_ptr(),
        frame.column.as_slice().as_ptr()
    );
    // Borrowed strings come straight from the in-band bytes.
    let frames = to_frames(&("borrowed", 1u8)).unwrap();
    let (s, _): (&str, u8) = frames.load().unwrap();
    let range = frames.inband.as_ptr_range();
    assert!(range.contains(&s.as_ptr()));
}

// ------------------------------------------------------------------------------------------
// Over shared memory (keel::pickle::shm and examples/python/keel_pickle_shm.py)

mod over_shm {
    use super::*;
    use keel::pickle::shm::{Region, export, import};
    use keel::shm::Segment;
    use std::io::{BufRead, BufReader, Write};

    fn helper_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python")
    }

    fn py(code: &str) -> Command {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", code]).env("PYTHONPATH", helper_dir());
        cmd
    }

    const N: usize = 1 << 17; // 1 MiB of f64

    #[test]
    fn python_maps_keel_arrays_without_a_copy() {
        let mut seg = Segment::create(N * 8).unwrap();
        // SAFETY: nobody else knows the fresh segment's name yet.
        for (i, c) in unsafe { seg.as_mut_slice() }
            .chunks_exact_mut(8)
            .enumerate()
        {
            c.copy_from_slice(&(i as f64).to_ne_bytes());
        }
        // SAFETY: nothing writes the segment from here on.
        let region = unsafe { Region::from_segment(seg) };
        let region_name = region.name().to_string();
        let array = NdArray::<f64>::from_buffer(region.view().clone()).unwrap();
        let heap = Buffer::from(vec![5u8; 1000]);
        let frames = to_frames(&(("label", array), heap)).unwrap();
        let sent = export(&frames, &[region]).unwrap();
        assert_eq!(sent.copied_len(), 1000); // only the heap buffer
        // The Rust side reads it back through shared memory too, sharing the mapping.
        // SAFETY: nothing writes these segments.
        let got = unsafe { import(sent.name()) }.unwrap();
        let ((label, back), small): ((String, NdArray<'static, f64>), Buffer) =
            got.frames.load().unwrap();
        assert_eq!(
            (label.as_str(), back.as_slice()[N - 1]),
            ("label", (N - 1) as f64)
        );
        assert_eq!(small, [5u8; 1000].as_slice());
        let (_, mapping) = got
            .segments
            .iter()
            .find(|(n, _)| *n == region_name)
            .unwrap();
        assert!(
            mapping
                .as_ptr_range()
                .contains(&back.as_slice().as_ptr().cast())
        );
        drop((back, small, got));

        if !python() || !numpy() {
            return;
        }
        let code = format!(
            "import numpy as np, keel_pickle_shm as k\n\
             ((label, arr), small), handles = k.load({name:?})\n\
             region = np.frombuffer(handles[{region:?}].buf, np.uint8)\n\
             manifest = np.frombuffer(handles[{name:?}].buf, np.uint8)\n\
             print(label, arr.dtype, arr.shape, arr[-1], arr.flags.writeable)\n\
             print('shares', np.shares_memory(arr, region), np.shares_memory(np.frombuffer(small, np.uint8), manifest))\n\
             print(bytes(small[:3]))\n",
            name = sent.name(),
            region = region_name,
        );
        let out = py(&code).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout,
            format!(
                "label float64 ({N},) {:.1} False\nshares True True\nb'\\x05\\x05\\x05'\n",
                (N - 1) as f64
            )
        );
    }

    #[test]
    fn keel_maps_python_arrays_without_a_copy() {
        if !python() || !numpy() {
            return;
        }
        let code = format!(
            "import sys, numpy as np, keel_pickle_shm as k\n\
             from multiprocessing import shared_memory\n\
             region = shared_memory.SharedMemory(create=True, size={bytes})\n\
             arr = np.ndarray(({N},), dtype='f8', buffer=region.buf)\n\
             arr[:] = np.arange({N}) * 0.5\n\
             manifest, copied = k.dump({{'data': arr, 'meta': 'from python', 'small': np.arange(3)}}, [region])\n\
             print(manifest.name, region.name, copied, flush=True)\n\
             sys.stdin.readline()\n\
             del arr\n\
             for s in (manifest, region):\n    s.close(); s.unlink()\n",
            bytes = N * 8,
        );
        let mut child = py(&code)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut words = line.split_whitespace();
        let (manifest, region, copied) = (
            words.next().unwrap().to_string(),
            words.next().unwrap().to_string(),
            words.next().unwrap().to_string(),
        );
        assert_eq!(copied, "24", "{line}"); // only np.arange(3): 3 int64s
        #[derive(Deserialize)]
        struct Message {
            data: NdArray<'static, f64>,
            meta: String,
            small: Vec<i64>,
        }
        {
            // SAFETY: the Python producer writes nothing after publishing.
            let got = unsafe { import(&manifest) }.unwrap();
            let m: Message = got.frames.load().unwrap();
            assert_eq!(
                (m.meta.as_str(), m.small.as_slice()),
                ("from python", &[0, 1, 2][..])
            );
            assert_eq!(m.data.as_slice()[N - 1], (N - 1) as f64 * 0.5);
            // The array is Python's shared memory, mapped here: no copy.
            let (_, mapping) = got.segments.iter().find(|(n, _)| *n == region).unwrap();
            assert_eq!(m.data.as_slice().as_ptr().cast(), mapping.as_ptr());
        }
        child.stdin.take().unwrap().write_all(b"done\n").unwrap();
        assert!(child.wait().unwrap().success());
    }
}
