//! Finding names fast (a table of fingerprints for the first few) and suggesting the name that
//! was meant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Pluggable;
use super::registration::Constructor;
use super::registry::Slot;
use crate::audit;

/// How many names and aliases a registry's fast table holds (scanned before any hashing).
pub(super) const SMALL: usize = 8;

/// A string of 1 to 15 bytes as two words that together hold its length and every byte, so two
/// keys are equal exactly when the strings are: compared with two `cmp`s, without a `memcmp`
/// call or a separate length check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ShortKey {
    head: u64,
    tail: u64,
}

impl ShortKey {
    /// Equal to no string's key (every key's `tail` holds the length, at least 1): fills the
    /// unused places of a fast table.
    pub(super) const NEVER: Self = Self { head: 0, tail: 0 };

    /// `None` for the empty string and for strings longer than 15 bytes.
    #[inline]
    pub(super) fn of(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        let len = bytes.len();
        let word2 = |at: usize| u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let word4 = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            u64::from(u32::from_le_bytes(word))
        };
        let word8 = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let len64 = len as u64;
        // `len - 1` wraps for the empty string, which has no key.
        // Up to 8 bytes fit `head`, and `tail` is the length; from 9 to 15, `tail` is the bytes
        // after the eighth (at most 7) with the length in its top byte.
        let (head, tail) = match len.wrapping_sub(1) {
            0 => (u64::from(bytes[0]), len64),
            // The first and last 2 bytes overlap and cover a string of 2 or 3.
            1..=2 => (word2(0) | (word2(len - 2) << 16), len64),
            // The first and last 4 bytes overlap and cover a string of 4 to 8.
            3..=7 => (word4(0) | (word4(len - 4) << 32), len64),
            // The last 8 bytes, shifted down past the ones `head` holds, leave the top byte free.
            8..=14 => (
                word8(0),
                (word8(len - 8) >> (8 * (16 - len))) | (len64 << 56),
            ),
            _ => return None,
        };
        Some(Self { head, tail })
    }
}

/// One place of a [`FastTable`]: a key, split so that its `tail` can be cleared, and the
/// constructor of the plugin it names.
struct Place<T: ?Sized + Pluggable> {
    head: u64,
    /// The key's `tail` while the table is armed; 0 (no key's) while it is not.
    tail: AtomicU64,
    constructor: Constructor<T>,
}

/// The names a registry finds without hashing: up to `SMALL` (8) keys, each next to its
/// plugin's constructor, scanned in order and held inline rather than behind a pointer.
///
/// The table is also what spares a `create` the audit check: it only matches while it is
/// armed, and it is armed only while no audit hook is installed (it is an [`audit::Bypass`],
/// disarmed when the first hook is added). A table starts disarmed, so a registry that never
/// reaches [`FastTable::arm_when_static`] finds every name by hashing, with the audit check.
pub(super) struct FastTable<T: ?Sized + Pluggable> {
    places: [Place<T>; SMALL],
    /// The `tail` of each place's key, written into the places when the table is armed.
    tails: [u64; SMALL],
}

impl<T: ?Sized + Pluggable> FastTable<T> {
    /// A disarmed table of `keys`, each with its constructor; unused places hold
    /// [`ShortKey::NEVER`] and a constructor that is never called.
    pub(super) fn new(keys: impl Iterator<Item = (ShortKey, Constructor<T>)>) -> Self {
        let mut keys = keys.fuse();
        let mut tails = [ShortKey::NEVER.tail; SMALL];
        let places = std::array::from_fn(|at| {
            let (key, constructor) = keys
                .next()
                .unwrap_or((ShortKey::NEVER, never_called::<T> as Constructor<T>));
            tails[at] = key.tail;
            Place {
                head: key.head,
                tail: AtomicU64::new(ShortKey::NEVER.tail),
                constructor,
            }
        });
        Self { places, tails }
    }

    /// Arms the table, unless an audit hook is installed; the first hook disarms it again.
    pub(super) fn arm_when_static(&'static self) {
        audit::bypass(self);
    }

    /// The constructor `name`'s key leads to, if the table is armed and holds it.
    // `always`: the scan is small once inlined, but large enough that LLVM would otherwise call it.
    #[inline(always)]
    pub(super) fn find(&self, name: &str) -> Option<Constructor<T>> {
        let key = ShortKey::of(name)?;
        self.places
            .iter()
            .find(|place| place.head == key.head && place.tail.load(Ordering::Relaxed) == key.tail)
            .map(|place| place.constructor)
    }
}

impl<T: ?Sized + Pluggable> audit::Bypass for FastTable<T> {
    fn arm(&self) {
        for (place, tail) in self.places.iter().zip(self.tails) {
            place.tail.store(tail, Ordering::Relaxed);
        }
    }

    fn disarm(&self) {
        for place in &self.places {
            place.tail.store(ShortKey::NEVER.tail, Ordering::Relaxed);
        }
    }
}

/// The constructor of the unused places of a [`FastTable`], whose key matches no name.
fn never_called<T: ?Sized + Pluggable>(_: T::Args) -> Box<T> {
    unreachable!("an unused fast-table place matched a name")
}

/// The keys of a registry's fast table, each with the index of the one plugin it names: the
/// registered `names` (sorted, as `Registry` keeps them) first, then the aliases (sorted), so
/// that the names most asked for are found first; at most `SMALL`, leaving out keys longer than
/// 15 bytes and keys several plugins claim (both are found by hashing).
pub(super) fn fast_keys(
    index: &HashMap<&'static str, Slot, foldhash::fast::FixedState>,
    names: &[&'static str],
) -> impl Iterator<Item = (ShortKey, u32)> {
    // The aliases are listed only if the names leave places free (`take` stops pulling first).
    let aliases = std::iter::once(()).flat_map(move |()| {
        let mut aliases: Vec<&'static str> = index
            .keys()
            .copied()
            .filter(|key| names.binary_search(key).is_err())
            .collect();
        aliases.sort_unstable();
        aliases
    });
    names
        .iter()
        .copied()
        .chain(aliases)
        .filter_map(|key| match index.get(key)? {
            Slot::Unique(i) => Some((ShortKey::of(key)?, *i)),
            Slot::Conflict(_) => None,
        })
        .take(SMALL)
}

/// The candidate closest to `name` by edit distance (case-insensitive, transpositions count
/// as one edit), if it is close enough to be a plausible typo; ties go to the alphabetically
/// first candidate.
pub(super) fn closest(
    name: &str,
    candidates: impl Iterator<Item = &'static str>,
) -> Option<&'static str> {
    let wanted = name.to_lowercase();
    candidates
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&wanted, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longest = wanted.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest string that has a [`ShortKey`].
    const SHORT: usize = 15;

    const NAMES: [&str; 4] = ["csv", "json", "json_lines", "parquet"];

    #[test]
    fn suggests_the_closest_plausible_name() {
        assert_eq!(closest("cvs", NAMES.into_iter()), Some("csv"));
        assert_eq!(closest("CSV", NAMES.into_iter()), Some("csv"));
        assert_eq!(closest("jsno", NAMES.into_iter()), Some("json"));
        assert_eq!(closest("json_line", NAMES.into_iter()), Some("json_lines"));
        assert_eq!(closest("parket", NAMES.into_iter()), Some("parquet"));
    }

    #[test]
    fn short_keys_are_equal_exactly_when_the_strings_are() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "aa",
            "abc",
            "acb",
            "cba",
            "abcd",
            "abce",
            "abcde",
            "abxde",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgx",
            "xbcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefghijklmno",
            "abcdefghijklmnq",
            "abcdefghXjklmno",
            "aaaaaaaa",
            "aaaaaaaaa",
            "aaaaaaaaaa",
            "csv",
            "json",
            "json_exporter",
        ];
        for a in words {
            for b in words {
                assert_eq!(ShortKey::of(a) == ShortKey::of(b), a == b, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(ShortKey::of("abcdefghijklmnop"), None, "16 bytes");
        assert!(ShortKey::of("abcdefghijklmno").is_some(), "15 bytes");
        // No key is the unused places' key, and the same byte repeated at every length gives
        // a different key each time.
        let repeated: Vec<ShortKey> = (1..=SHORT)
            .flat_map(|len| [0u8, b'a', 0x7f].map(|byte| vec![byte; len]))
            .map(|bytes| ShortKey::of(std::str::from_utf8(&bytes).unwrap()).unwrap())
            .collect();
        for (i, a) in repeated.iter().enumerate() {
            assert_ne!(*a, ShortKey::NEVER);
            for b in &repeated[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Every byte position of every length matters.
        for len in 1..=SHORT {
            let base = vec![b'a'; len];
            for at in 0..len {
                let mut changed = base.clone();
                changed[at] = b'b';
                let (x, y) = (
                    std::str::from_utf8(&base).unwrap(),
                    std::str::from_utf8(&changed).unwrap(),
                );
                assert_ne!(ShortKey::of(x), ShortKey::of(y), "len {len}, byte {at}");
            }
        }
    }

    #[test]
    fn the_fast_table_holds_short_unique_keys_names_first() {
        let mut index = HashMap::with_hasher(foldhash::fast::FixedState::default());
        let keys = [
            ("zip", Slot::Unique(0)),
            ("gz", Slot::Unique(1)),
            ("gzip", Slot::Unique(1)),
            ("a_name_longer_than_sixteen", Slot::Unique(2)),
            ("tar", Slot::Conflict(0)),
        ];
        index.extend(keys);
        let names = ["a_name_longer_than_sixteen", "gzip", "tar", "zip"];
        let table: Vec<(ShortKey, u32)> = fast_keys(&index, &names).collect();
        let expected = [("gzip", 1), ("zip", 0), ("gz", 1)];
        assert_eq!(
            table,
            expected.map(|(key, i)| (ShortKey::of(key).unwrap(), i)),
            "names before aliases; the long key and the conflict left to the hash map"
        );

        // Never more than `SMALL` places, the names first.
        let many: Vec<&'static str> = (0..20).map(|i| &*format!("n{i:02}").leak()).collect();
        let index: HashMap<_, _, _> = many
            .iter()
            .enumerate()
            .map(|(i, key)| (*key, Slot::Unique(i as u32)))
            .collect();
        let table: Vec<(ShortKey, u32)> = fast_keys(&index, &many).collect();
        assert_eq!(table.len(), SMALL);
        assert_eq!(table[7], (ShortKey::of("n07").unwrap(), 7));
    }

    trait Probe {
        fn id(&self) -> u8;
    }

    impl Probe for u8 {
        fn id(&self) -> u8 {
            *self
        }
    }

    impl Pluggable for dyn Probe {
        type Args = ();
        type Construct = super::super::ByDefault;
        const NAME: &'static str = "Probe";
        fn registry() -> &'static super::super::Registry<Self> {
            unreachable!("the table is tested alone")
        }
    }

    #[test]
    fn the_fast_table_matches_only_while_armed() {
        use audit::Bypass;
        let table = FastTable::<dyn Probe>::new(
            [
                ("csv", (|()| Box::new(1u8)) as Constructor<dyn Probe>),
                ("json", |()| Box::new(2u8)),
            ]
            .into_iter()
            .map(|(name, constructor)| (ShortKey::of(name).unwrap(), constructor)),
        );
        let found = |name| table.find(name).map(|constructor| constructor(()).id());
        assert_eq!(found("csv"), None, "a new table is disarmed");
        table.arm();
        assert_eq!((found("csv"), found("json")), (Some(1), Some(2)));
        assert_eq!((found("cs"), found(""), found("jsonl")), (None, None, None));
        table.disarm();
        assert_eq!((found("csv"), found("json")), (None, None));
    }

    #[test]
    fn suggests_nothing_for_a_distant_name() {
        assert_eq!(closest("xml", NAMES.into_iter()), None);
        assert_eq!(closest("", NAMES.into_iter()), None);
        assert_eq!(closest("yaml", std::iter::empty()), None);
    }
}
