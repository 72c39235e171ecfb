//! Finding names fast (a table of fingerprints for the first few) and suggesting the name that
//! was meant.

use std::collections::HashMap;

use super::registry::Slot;

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

    #[test]
    fn suggests_nothing_for_a_distant_name() {
        assert_eq!(closest("xml", NAMES.into_iter()), None);
        assert_eq!(closest("", NAMES.into_iter()), None);
        assert_eq!(closest("yaml", std::iter::empty()), None);
    }
}
