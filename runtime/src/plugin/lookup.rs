//! Finding names fast (a table of fingerprints for the first few) and suggesting the name that
//! was meant.

use std::collections::HashMap;

use super::registry::Slot;

/// How many names and aliases a registry's fast table holds (scanned before any hashing).
pub(super) const SMALL: usize = 8;

/// A string of at most 16 bytes as its length and two words that together hold every byte, so
/// two keys are equal exactly when the strings are (compared without a `memcmp` call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ShortKey {
    len: usize,
    head: u64,
    tail: u64,
}

impl ShortKey {
    /// Equal to no string's key: fills the unused places of a fast table.
    pub(super) const NEVER: Self = Self {
        len: usize::MAX,
        head: 0,
        tail: 0,
    };

    /// `None` for the empty string and for strings longer than 16 bytes.
    #[inline]
    pub(super) fn of(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        let len = bytes.len();
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
        // One comparison per class: `len - 1` wraps for the empty string, which has no key.
        let (head, tail) = match len.wrapping_sub(1) {
            // Bytes 0, len/2 and len-1 are all the bytes of a string of 1 to 3.
            0..=2 => (
                u64::from(bytes[0])
                    | (u64::from(bytes[len / 2]) << 8)
                    | (u64::from(bytes[len - 1]) << 16),
                0,
            ),
            // The first and last 4 (or 8) bytes overlap and cover the whole string.
            3..=6 => (word4(0), word4(len - 4)),
            7..=15 => (word8(0), word8(len - 8)),
            _ => return None,
        };
        Some(Self { len, head, tail })
    }
}

/// The keys of a registry's fast table, each with the index of the one plugin it names: the
/// registered `names` (sorted, as `Registry` keeps them) first, then the aliases (sorted), so
/// that the names most asked for are found first; at most `SMALL`, leaving out keys longer than
/// 16 bytes and keys several plugins claim (both are found by hashing).
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
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "abcdefghXjklmnop",
            "csv",
            "json",
            "json_exporter",
        ];
        for a in words {
            for b in words {
                assert_eq!(ShortKey::of(a) == ShortKey::of(b), a == b, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(ShortKey::of("abcdefghijklmnopq"), None, "17 bytes");
        // Every byte position of every length up to 16 matters.
        for len in 1..=16 {
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
