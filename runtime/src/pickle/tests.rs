//! The reader's unit tests: hand-written streams, small enough for Miri.

use super::*;
use std::collections::BTreeMap;

#[test]
fn classic_os_system_is_refused_at_its_global() {
    let classic = b"cos\nsystem\n(S'echo pwned'\ntR.";
    let err = from_frames::<()>(classic, &[]).unwrap_err();
    assert!(err.to_string().contains("`os.system`"), "{err}");
}
