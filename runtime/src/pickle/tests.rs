//! The reader's and writer's unit tests: hand-written streams, small enough for Miri
//! (`cargo +nightly miri test -p keel-runtime --lib --features pickle -- pickle`).

use super::*;
use std::collections::BTreeMap;

fn read<'de, T: Deserialize<'de>>(p: &'de [u8]) -> Result<T, PickleError> {
    from_frames(p, &[])
}

#[test]
fn classic_os_system_is_refused_at_its_global() {
    let classic = b"cos\nsystem\n(S'echo pwned'\ntR.";
    let err = read::<()>(classic).unwrap_err();
    assert!(err.to_string().contains("`os.system`"), "{err}");
    // STACK_GLOBAL, the module and name memoized first as CPython writes them.
    let stacked = b"\x80\x05\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
    let err = read::<()>(stacked).unwrap_err();
    assert_eq!(
        err,
        PickleError::Forbidden {
            module: "posix".into(),
            name: "system".into(),
            opcode: "STACK_GLOBAL",
            offset: 19
        }
    );
}

#[test]
fn scalars_of_every_opcode() {
    assert_eq!(read::<Option<u8>>(b"N.").unwrap(), None);
    assert!(read::<bool>(b"\x88.").unwrap());
    assert!(!read::<bool>(b"\x89.").unwrap());
    assert_eq!(read::<u8>(b"K\xff.").unwrap(), 255);
    assert_eq!(read::<u16>(b"M\x00\x01.").unwrap(), 256);
    assert_eq!(read::<i32>(b"J\xff\xff\xff\xff.").unwrap(), -1);
    assert_eq!(read::<i64>(b"\x8a\x00.").unwrap(), 0);
    assert_eq!(read::<i64>(b"\x8a\x01\xff.").unwrap(), -1);
    assert_eq!(
        read::<u64>(b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00.").unwrap(),
        u64::MAX
    );
    assert_eq!(
        read::<i128>(b"\x8b\x02\x00\x00\x00\x00\x80.").unwrap(),
        -32768
    );
    assert_eq!(
        read::<f64>(b"G\x3f\xf8\x00\x00\x00\x00\x00\x00.").unwrap(),
        1.5
    );
    assert_eq!(read::<i64>(b"I42\n.").unwrap(), 42);
    assert!(read::<bool>(b"I01\n.").unwrap());
    assert_eq!(read::<f64>(b"F0.25\n.").unwrap(), 0.25);
    // SHORT_BINUNICODE of 2 bytes followed by a stray byte before STOP.
    let err = read::<String>(b"\x8c\x02h\xc3\xa9\x00.").unwrap_err();
    assert!(matches!(err, PickleError::Corrupt { .. }), "{err}");
    assert_eq!(read::<&str>(b"\x8c\x02\xc3\xa9.").unwrap(), "é");
    assert_eq!(read::<String>(b"X\x01\x00\x00\x00a.").unwrap(), "a");
    assert_eq!(
        read::<String>(b"\x8d\x01\x00\x00\x00\x00\x00\x00\x00b.").unwrap(),
        "b"
    );
    assert_eq!(read::<String>(b"U\x01c.").unwrap(), "c"); // Python 2 str
    assert_eq!(read::<Vec<u8>>(b"C\x02\x01\x02.").unwrap(), [1, 2]);
    assert_eq!(read::<Vec<u8>>(b"B\x01\x00\x00\x00\x07.").unwrap(), [7]);
    assert_eq!(
        read::<Vec<u8>>(b"\x96\x01\x00\x00\x00\x00\x00\x00\x00\x09.").unwrap(),
        [9]
    );
    // A lone surrogate (CPython's 'surrogatepass') is not UTF-8.
    let err = read::<String>(b"\x8c\x03\xed\xa0\x80.").unwrap_err();
    assert!(err.to_string().contains("surrogate"), "{err}");
}

#[test]
fn containers_memo_and_marks() {
    // [1, 2] memoized, then {'a': <same list>, 'b': (1,)} referring to it twice.
    let p = b"\x80\x05}\x94(\x8c\x01a]\x94(K\x01K\x02e\x8c\x01bh\x01\x85u.";
    #[derive(Deserialize, Debug, PartialEq)]
    struct Shared {
        a: Vec<u8>,
        b: (Vec<u8>,),
    }
    let v: Shared = read(p).unwrap();
    assert_eq!(
        v,
        Shared {
            a: vec![1, 2],
            b: (vec![1, 2],)
        }
    );
    // LIST, TUPLE, DICT, APPEND, SETITEM, EMPTY_SET + ADDITEMS, FROZENSET, POP, POP_MARK.
    let p = b"(K\x01K\x02l(K\x03tK\x09\x30(K\x05K\x061\x86.";
    let v: (Vec<u8>, (u8,)) = read(p).unwrap();
    assert_eq!(v, (vec![1, 2], (3,)));
    let p = b"(K\x01K\x02d}K\x03K\x04s\x86.";
    let v: (BTreeMap<u8, u8>, BTreeMap<u8, u8>) = read(p).unwrap();
    assert_eq!(v, (BTreeMap::from([(1, 2)]), BTreeMap::from([(3, 4)])));
    let p = b"\x8f(K\x01\x90(K\x02\x91]K\x03a\x87.";
    let v: (Vec<u8>, Vec<u8>, Vec<u8>) = read(p).unwrap();
    assert_eq!(v, (vec![1], vec![2], vec![3]));
    // PUT/GET (protocol 0), BINPUT/LONG_BINGET.
    let p = b"K\x07p0\n0g0\n.";
    assert_eq!(read::<u8>(p).unwrap(), 7);
    let p = b"K\x07q\x03j\x03\x00\x00\x00\x86.";
    assert_eq!(read::<(u8, u8)>(p).unwrap(), (7, 7));
}

#[test]
fn structural_errors_name_the_opcode() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "truncated at byte 0"),
        (b"K", "BININT1 needs 1 more bytes, 0 left"),
        (b"\x8c\x05ab.", "SHORT_BINUNICODE needs 5 more bytes"),
        (b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", "FRAME needs 255"),
        (b".", "(STOP): stack underflow"),
        (b"e.", "no MARK to close"),
        (b"(.", "(STOP): stack underflow"),
        (b"K\x01K\x02a.", "APPEND on a int"),
        (b"h\x00.", "memo slot 0 is empty"),
        (b"K\x01r\x00\x00\x01\x00.", "far beyond"),
        (b"}(K\x01u.", "do not make key/value pairs"),
        (b"\xff", "0xff, not a pickle opcode"),
        (b"N2.", "never writes DUP"),
        (b"K\x01K\x02R.", "cannot call a int"),
        (b"\x82\x01.", "copyreg's registry"),
        (b"Q.", "persistent ids"),
        (b"S'x'\n.", "protocol 0's quoted"),
        (b"N\x97.", "buffer 0, but only 0 were given"),
        (b"N.N", "1 bytes after STOP"),
    ];
    for (stream, message) in cases {
        let Err(err) = read::<serde::de::IgnoredAny>(stream) else {
            panic!("{stream:?} read");
        };
        let err = err.to_string();
        assert!(err.contains(message), "{stream:?}: {err}");
    }
}

#[test]
fn known_reconstructors_only_with_their_arguments() {
    // builtins.set(['a']) and _codecs.encode('\xff', 'latin1') (protocol 2).
    let p = b"\x80\x02c__builtin__\nset\n]\x8c\x01a\x61\x85R.";
    assert_eq!(read::<Vec<String>>(p).unwrap(), ["a"]);
    let p = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R.";
    assert_eq!(read::<Vec<u8>>(p).unwrap(), [0xff]);
    // A known name called with the wrong arguments is an error, not a guess.
    let p = b"\x80\x02c_codecs\nencode\nK\x01\x85R.";
    assert!(read::<Vec<u8>>(p).is_err());
    let p = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00utf8\x86R.";
    let err = read::<Vec<u8>>(p).unwrap_err();
    assert!(err.to_string().contains("not latin1"), "{err}");
    // BUILD on anything but a dtype or an array under construction.
    let err = read::<()>(b"]N\x85b.").unwrap_err();
    assert!(err.to_string().contains("BUILD on a list"), "{err}");
}

#[test]
fn writer_emits_cpython_opcodes() {
    let f = to_frames(&(
        1u8,
        -2i64,
        70_000u32,
        u64::MAX,
        1.5f64,
        "é",
        true,
        None::<u8>,
    ))
    .unwrap();
    let body = &f.inband[11..];
    assert_eq!(&f.inband[..3], b"\x80\x05\x95");
    assert_eq!(
        u64::from_le_bytes(f.inband[3..11].try_into().unwrap()),
        body.len() as u64
    );
    assert_eq!(
        body,
        b"(K\x01J\xfe\xff\xff\xffJp\x11\x01\x00\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00\
          G\x3f\xf8\x00\x00\x00\x00\x00\x00\x8c\x02\xc3\xa9\x88Nt."
    );
    let f = to_frames(&Vec::<u8>::new()).unwrap();
    assert_eq!(&f.inband[11..], b"].");
    let f = to_frames(&BTreeMap::from([("k", 1u8)])).unwrap();
    assert_eq!(&f.inband[11..], b"}(\x8c\x01kK\x01u.");
    let f = to_frames(&i128::MIN).unwrap();
    assert_eq!(f.inband[11], 0x8a);
    assert_eq!(f.inband[12], 16);
    assert_eq!(f.load::<i128>().unwrap(), i128::MIN);
}

#[test]
fn ndarray_round_trip_shares_the_vec() {
    let a = NdArray::from_vec(vec![1u16, 2, 3, 4])
        .reshape(&[2, 2], Order::Fortran)
        .unwrap();
    let f = to_frames(&a).unwrap();
    assert_eq!(f.buffers.len(), 1);
    let back: NdArray<'static, u16> = f.load().unwrap();
    assert_eq!(back, a);
    assert_eq!(back.as_slice().as_ptr(), a.as_slice().as_ptr());
    let err = f.load::<NdArray<'static, i16>>().unwrap_err();
    assert!(err.to_string().contains("<u2"), "{err}");
    // In band below the threshold, then read back (copied, aligned).
    let f = Encoder::new().threshold(1 << 20).to_frames(&a).unwrap();
    assert!(f.buffers.is_empty());
    assert_eq!(f.load::<NdArray<'static, u16>>().unwrap(), a);
    assert_eq!(f.load::<Vec<u16>>().unwrap(), [1, 2, 3, 4]);
}

#[test]
fn deep_values_drop_without_recursion() {
    // Deeper than MAX_DEPTH; far deeper outside Miri, where it is cheap.
    let depth = if cfg!(miri) { 600 } else { 50_000 };
    let mut p = Vec::new();
    p.extend(core::iter::repeat_n(b']', depth));
    p.extend(core::iter::repeat_n(b'a', depth - 1));
    p.push(b'.');
    let err = read::<serde::de::IgnoredAny>(&p[..p.len() - 1]).unwrap_err();
    assert!(matches!(err, PickleError::Truncated { .. }), "{err}");
    assert!(matches!(
        read::<Vec<Vec<u8>>>(&p).unwrap_err(),
        PickleError::Type(_) | PickleError::Limit(_)
    ));
}

/// Reads `p` with the direct reader alone (it must succeed) and with the machine, and checks
/// that both give the same value.
fn both<'de, T>(p: &'de [u8], buffers: &[Buffer]) -> T
where
    T: Deserialize<'de> + PartialEq + core::fmt::Debug,
{
    let fast =
        super::stream::Stream::read_all::<T>(p, buffers).expect("the direct reader reads it");
    assert_eq!(fast, super::read_tree::<T>(p, buffers).unwrap());
    fast
}

#[derive(Deserialize, PartialEq, Debug)]
struct Rec {
    id: u128,
    name: String,
    tags: Vec<String>,
    parent: Option<u8>,
}

#[test]
fn direct_reader_reads_cpython_memo_and_one_item_batches() {
    // pickle.dumps([{'id': 1, 'name': 'a', 'tags': ['alpha', 'x'], 'parent': None},
    //               {'id': 2**70, 'name': 'b', 'tags': ['alpha'], 'parent': 1}], protocol=5)
    // The second record's keys and 'alpha' are BINGETs; its tags is `x APPEND`.
    let p = b"\x80\x05\x95\x5e\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x7d\x94\x28\x8c\x02\x69\x64\x94\x4b\x01\x8c\x04\x6e\x61\x6d\x65\x94\x8c\x01\x61\x94\x8c\x04\x74\x61\x67\x73\x94\x5d\x94\x28\x8c\x05\x61\x6c\x70\x68\x61\x94\x8c\x01\x78\x94\x65\x8c\x06\x70\x61\x72\x65\x6e\x74\x94\x4e\x75\x7d\x94\x28\x68\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x68\x03\x8c\x01\x62\x94\x68\x05\x5d\x94\x68\x07\x61\x68\x09\x4b\x01\x75\x65\x2e";
    let recs: Vec<Rec> = both(p, &[]);
    assert_eq!(recs[1].id, 1 << 70);
    assert_eq!(recs[1].tags, ["alpha"]);
    assert_eq!((recs[0].parent, recs[1].parent), (None, Some(1)));
    // pickle.dumps({'A': [1, 2]}, protocol=5): a one-entry dict as an enum.
    #[derive(Deserialize, PartialEq, Debug)]
    enum E {
        A(Vec<u8>),
    }
    let p = b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x8c\x01\x41\x94\x5d\x94\x28\x4b\x01\x4b\x02\x65\x73\x2e";
    assert_eq!(both::<E>(p, &[]), E::A(vec![1, 2]));
    // bytes into a Vec<u8>, element by element (pickle.dumps([b'ab', b''], protocol=5)).
    let p = b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00]\x94(C\x02ab\x94C\x00\x94e.";
    assert_eq!(both::<Vec<Vec<u8>>>(p, &[]), [b"ab".to_vec(), vec![]]);
    // Empty containers followed by a value: the look-ahead finds no one-item batch.
    let p = to_frames(&(Vec::<u8>::new(), BTreeMap::<u8, u8>::new(), 5u8)).unwrap();
    assert_eq!(both::<(Vec<u8>, BTreeMap<u8, u8>, u8)>(&p.inband, &[]).2, 5);
}

#[test]
fn direct_reader_reads_memoized_tuples_where_the_type_has_them() {
    // pickle.dumps([('alpha', 1), ('alpha', 2)], protocol=5): a GET starts the second tuple.
    let p = b"\x80\x05\x95\x17\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x8c\x05\x61\x6c\x70\x68\x61\x94\x4b\x01\x86\x94\x68\x01\x4b\x02\x86\x94\x65\x2e";
    let v: Vec<(String, u8)> = both(p, &[]);
    assert_eq!(v, [("alpha".into(), 1), ("alpha".into(), 2)]);
    // t = (1, 2); pickle.dumps((t, (t, 3), [t]), protocol=5): the memoized tuple is a whole
    // tuple twice and the first item of another once.
    let p = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00\x4b\x01\x4b\x02\x86\x94\x68\x00\x4b\x03\x86\x94\x5d\x94\x68\x00\x61\x87\x94\x2e";
    // (The direct reader takes the second GET for the whole `((u8, u8), u8)`, finds the
    // items do not line up, and leaves this stream to the machine.)
    type T3 = ((u8, u8), ((u8, u8), u8), Vec<(u8, u8)>);
    let v: T3 = from_frames(p, &[]).unwrap();
    assert_eq!(v, ((1, 2), ((1, 2), 3), vec![(1, 2)]));
    // Read with a type whose tuples do not line up with the stream's: the machine answers.
    let flat = from_frames::<((u8, u8), (u8, u8, u8), Vec<(u8, u8)>)>(p, &[]);
    assert!(flat.is_err());
}

#[test]
fn direct_reader_reads_numpy_arrays_sharing_dtype_and_global() {
    // pickle.dumps([np.arange(3.0), np.arange(2.0).reshape(1, 2)], protocol=5,
    //              buffer_callback=...): the second array GETs `_frombuffer`, the dtype and 'C'.
    let p = b"\x80\x05\x95\x81\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x8c\x13\x6e\x75\x6d\x70\x79\x2e\x5f\x63\x6f\x72\x65\x2e\x6e\x75\x6d\x65\x72\x69\x63\x94\x8c\x0b\x5f\x66\x72\x6f\x6d\x62\x75\x66\x66\x65\x72\x94\x93\x94\x28\x97\x8c\x05\x6e\x75\x6d\x70\x79\x94\x8c\x05\x64\x74\x79\x70\x65\x94\x93\x94\x8c\x02\x66\x38\x94\x89\x88\x87\x94\x52\x94\x28\x4b\x03\x8c\x01\x3c\x94\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x94\x62\x4b\x03\x85\x94\x8c\x01\x43\x94\x74\x94\x52\x94\x68\x03\x28\x97\x68\x09\x4b\x01\x4b\x02\x86\x94\x68\x0d\x74\x94\x52\x94\x65\x2e";
    // (Buffers over `Vec<f64>`s: aligned for f64, so that the arrays can share them.)
    let bytes = |v: Vec<f64>| NdArray::from_vec(v).buffer().unwrap().clone();
    let buffers = [bytes(vec![0.0, 1.0, 2.0]), bytes(vec![0.0, 1.0])];
    if cfg!(target_endian = "little") {
        let arrays: Vec<NdArray<'static, f64>> = both(p, &buffers);
        assert_eq!(arrays[0].as_slice(), [0.0, 1.0, 2.0]);
        assert_eq!(arrays[1].shape(), [1, 2]);
        assert_eq!(arrays[1].as_slice().as_ptr().cast(), buffers[1].as_ptr());
    }
}

#[test]
fn ndarray_bytes_are_numpys_own_less_its_memo() {
    // numpy 2's pickle.dumps(np.arange(3.0), protocol=5, buffer_callback=...), its MEMOIZE
    // opcodes left out (and READONLY_BUFFER added: a Buffer is read-only).
    let mut want = b"\x80\x05\x95\x5d\x00\x00\x00\x00\x00\x00\x00".to_vec();
    want.extend_from_slice(b"\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93(\x97\x98");
    want.extend_from_slice(b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x89\x88\x87R(K\x03\x8c\x01<");
    want.extend_from_slice(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbK\x03\x85\x8c\x01CtR.");
    let a = NdArray::from_vec(vec![0.0f64, 1.0, 2.0]);
    let f = to_frames(&a).unwrap();
    if cfg!(target_endian = "little") {
        assert_eq!(f.inband, want);
    }
    // Read back both by recognizing those bytes and by the machine.
    assert_eq!(both::<NdArray<'static, f64>>(&f.inband, &f.buffers), a);
}

/// Every one-byte change of `p`: `from_frames` never panics, and whenever the direct reader
/// reads the changed stream, the machine reads the same value from it (or refuses it).
fn mutations<T>(p: &[u8], buffers: &[Buffer])
where
    T: for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug,
{
    let step = if cfg!(miri) { 7 } else { 1 };
    let values: &[u8] = if cfg!(miri) {
        &[0x00, 0x94, 0xff]
    } else {
        &[
            0x00, 0x01, 0x28, 0x2e, 0x4b, 0x5d, 0x61, 0x65, 0x68, 0x73, 0x85, 0x94, 0xff,
        ]
    };
    let mut q = p.to_vec();
    for i in (0..p.len()).step_by(step) {
        for &v in values {
            q[i] = v;
            if let Ok(fast) = super::stream::Stream::read_all::<T>(&q, buffers)
                && let Ok(machine) = super::read_tree::<T>(&q, buffers)
            {
                assert_eq!(fast, machine, "byte {i} set to {v:#04x}");
            }
            let _ = from_frames::<T>(&q, buffers);
        }
        q[i] = p[i];
    }
    // And every truncation.
    for n in (0..p.len()).step_by(step) {
        assert!(from_frames::<T>(&p[..n], buffers).is_err());
    }
}

#[test]
fn direct_reader_and_machine_agree_on_corrupted_streams() {
    let records = b"\x80\x05\x95\x5e\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x7d\x94\x28\x8c\x02\x69\x64\x94\x4b\x01\x8c\x04\x6e\x61\x6d\x65\x94\x8c\x01\x61\x94\x8c\x04\x74\x61\x67\x73\x94\x5d\x94\x28\x8c\x05\x61\x6c\x70\x68\x61\x94\x8c\x01\x78\x94\x65\x8c\x06\x70\x61\x72\x65\x6e\x74\x94\x4e\x75\x7d\x94\x28\x68\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x68\x03\x8c\x01\x62\x94\x68\x05\x5d\x94\x68\x07\x61\x68\x09\x4b\x01\x75\x65\x2e";
    mutations::<Vec<Rec>>(records, &[]);
    let tuples = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00\x4b\x01\x4b\x02\x86\x94\x68\x00\x4b\x03\x86\x94\x5d\x94\x68\x00\x61\x87\x94\x2e";
    mutations::<((u8, u8), ((u8, u8), u8), Vec<(u8, u8)>)>(tuples, &[]);
    let a = NdArray::from_vec(vec![0.0f64, 1.0, 2.0]);
    let f = to_frames(&(a.clone(), [a])).unwrap();
    mutations::<(NdArray<'static, f64>, Vec<NdArray<'static, f64>>)>(&f.inband, &f.buffers);
}
