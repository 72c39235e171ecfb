//! The fast table that `create` scans before hashing, tested where no audit hook is ever
//! installed (hooks are process-wide, and with one installed every `create` takes the hash map):
//! names made of the same byte at lengths from 1 to 16, so that only the length tells them apart,
//! around the table's 15-byte limit. The plugins are declared by a `macro_rules!` macro, which
//! is also the regression test for generating plugins that way (the constructor's parameter
//! once failed to resolve across the two hygiene contexts).

use keel::plugin::{PluginError, registry};

#[keel::registry]
pub trait Width {
    fn width(&self) -> usize;
}

macro_rules! widths {
    ($($ty:ident = $name:literal $(, $alias:literal)?;)*) => {$(
        #[keel::plugin(Width, name = $name $(, aliases = [$alias])?)]
        #[derive(Default)]
        pub struct $ty;
        impl Width for $ty {
            fn width(&self) -> usize {
                $name.len()
            }
        }
    )*};
}

// Sorted, the names fill the table's first places and the aliases the rest: the 5 names and the
// 9-byte alias in the table (6 of its 8 places), the 16-byte alias in the hash map.
widths! {
    One = "x";
    Two = "xx";
    Three = "xxx";
    Eight = "xxxxxxxx", "xxxxxxxxx";
    Fifteen = "xxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxx";
}

#[test]
fn every_length_finds_its_own_plugin_and_no_other() {
    let widths = registry::<dyn Width>();
    assert_eq!(widths.len(), 5);
    for (name, width) in [
        ("x", 1),
        ("xx", 2),
        ("xxx", 3),
        ("xxxxxxxx", 8),
        ("xxxxxxxxx", 8),
        ("xxxxxxxxxxxxxxx", 15),
        ("xxxxxxxxxxxxxxxx", 15),
    ] {
        let plugin = widths
            .create(name)
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(plugin.width(), width, "{name:?}");
    }
    for near in [
        "",
        "y",
        "xxxx",
        "xxxxxxx",
        "xxxxxxxxxx",
        "xxxxxxxxxxxxxx",
        "xxxxxxxxxxxxxxxxx",
        "xy",
        "yx",
        "xxxxxxxy",
        "yxxxxxxxx",
        "xxxxxxxxxxxxxxy",
        "xxxxxxxyxxxxxxx",
    ] {
        let err = widths.create(near).err().expect(near);
        assert!(
            matches!(*err, PluginError::Unknown { .. }),
            "{near:?}: {err}"
        );
    }
}
