//! String storage for columnar containers: an arena (every row's text in one buffer) and an
//! interner (each distinct text once, rows hold small ids).

use super::packed::{PackedColumn, bits_for};
use core::hash::BuildHasher;
use hashbrown::HashTable;
use std::hash::RandomState;

/// A column of strings kept in one contiguous buffer plus one end offset per row: pushing a row
/// copies its text into the buffer and allocates nothing per row.
///
/// Reading is a slice into the buffer ([`get`](Self::get) returns `&str`). Appending and removing
/// at the end are O(1) amortised; [`set`](Self::set) and [`swap_remove`](Self::swap_remove) of a
/// row in the middle move the text after it, O(bytes after the row).
///
/// ```
/// use keel_runtime::layout::StrArena;
///
/// let mut names = StrArena::new();
/// names.push("alpha");
/// names.push("");
/// names.push("gamma");
/// assert_eq!(names.get(2), Some("gamma"));
/// names.set(0, "a");
/// assert_eq!(names.iter().collect::<Vec<_>>(), ["a", "", "gamma"]);
/// assert_eq!(names.text_len(), 6);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct StrArena {
    text: String,
    /// `ends[i]` is the end of row `i` in `text`; row `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
}

impl StrArena {
    /// Every row's text, back to back (row `i` is `text()[start..ends()[i]]`, its start the
    /// previous end or 0).
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("ab");
    /// a.push("c");
    /// assert_eq!((a.text(), a.ends()), ("abc", &[2, 3][..]));
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The end offset of each row in [`text`](Self::text).
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("hello");
    /// assert_eq!(a.ends(), [5]);
    /// ```
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// The text buffer and the end offsets, moved out without copying.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("hi");
    /// assert_eq!(a.into_parts(), (String::from("hi"), vec![2]));
    /// ```
    pub fn into_parts(self) -> (String, Vec<usize>) {
        (self.text, self.ends)
    }

    /// An empty arena.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// assert!(StrArena::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            ends: Vec::new(),
        }
    }

    /// An empty arena with room for `rows` rows (the text buffer grows on demand).
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// assert!(StrArena::with_capacity(10).memory_bytes() >= 80);
    /// ```
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            text: String::new(),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Number of rows.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("x");
    /// assert_eq!(a.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no row.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// assert!(StrArena::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total bytes of text stored.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("°C");
    /// assert_eq!(a.text_len(), 3);
    /// ```
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    #[inline]
    fn span(&self, index: usize) -> Option<(usize, usize)> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        Some((start, end))
    }

    /// The text of row `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("x");
    /// assert_eq!(a.get(0), Some("x"));
    /// assert_eq!(a.get(1), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<&str> {
        let (start, end) = self.span(index)?;
        self.text.get(start..end)
    }

    /// Appends a row.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("hello");
    /// assert_eq!(a.get(0), Some("hello"));
    /// ```
    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
        self.ends.push(self.text.len());
    }

    /// Replaces the text of row `index`, moving the text of later rows if the length changes.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("short");
    /// a.push("next");
    /// a.set(0, "much longer");
    /// assert_eq!(a.get(0), Some("much longer"));
    /// assert_eq!(a.get(1), Some("next"));
    /// ```
    pub fn set(&mut self, index: usize, text: &str) {
        let Some((start, end)) = self.span(index) else {
            panic!(
                "index out of bounds: the len is {} but the index is {index}",
                self.len()
            );
        };
        self.text.replace_range(start..end, text);
        let new_end = start + text.len();
        if new_end != end {
            for later in &mut self.ends[index..] {
                *later = *later - end + new_end;
            }
        }
    }

    /// Removes and returns the last row.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("x");
    /// assert_eq!(a.pop().as_deref(), Some("x"));
    /// assert!(a.is_empty());
    /// ```
    pub fn pop(&mut self) -> Option<String> {
        let last = self.get(self.len().checked_sub(1)?)?.to_owned();
        self.truncate(self.len() - 1);
        Some(last)
    }

    /// Removes row `index`, moving the last row into its place.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// for s in ["a", "b", "c"] { a.push(s); }
    /// assert_eq!(a.swap_remove(0), "a");
    /// assert_eq!(a.iter().collect::<Vec<_>>(), ["c", "b"]);
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> String {
        let Some(removed) = self.get(index).map(str::to_owned) else {
            panic!(
                "swap_remove index (is {index}) should be < len (is {})",
                self.len()
            );
        };
        let last = self.len() - 1;
        if index != last {
            let moved = self.get(last).unwrap_or_default().to_owned();
            self.truncate(last);
            self.set(index, &moved);
        } else {
            self.truncate(last);
        }
        removed
    }

    /// Keeps the first `len` rows.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("a");
    /// a.push("b");
    /// a.truncate(1);
    /// assert_eq!(a.text_len(), 1);
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        self.ends.truncate(len);
        let end = self.ends.last().copied().unwrap_or(0);
        self.text.truncate(end);
    }

    /// Removes every row, keeping the allocations.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("a");
    /// a.clear();
    /// assert!(a.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.ends.clear();
        self.text.clear();
    }

    /// Reserves room for `additional` more rows.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.reserve(4);
    /// assert!(a.memory_bytes() >= 32);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.ends.reserve(additional);
    }

    /// Gives back unused capacity of the text buffer and the offsets.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::with_capacity(100);
    /// a.push("abc");
    /// a.shrink_to_fit();
    /// assert_eq!(a.memory_bytes(), 3 + size_of::<usize>());
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.ends.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    /// Heap bytes held: text buffer capacity plus offsets capacity.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// assert_eq!(StrArena::new().memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<usize>()
    }

    /// The rows in order.
    ///
    /// ```
    /// # use keel_runtime::layout::StrArena;
    /// let mut a = StrArena::new();
    /// a.push("a");
    /// assert_eq!(a.iter().collect::<String>(), "a");
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl core::fmt::Debug for StrArena {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Each distinct string stored once, numbered in order of first appearance.
///
/// The texts live back to back in one buffer (like [`StrArena`]); a hash table of ids (4 bytes
/// each, hashing the text in the buffer, so nothing is stored twice) finds an existing id.
/// Ids are dense (`0..len()`), which is what lets [`InternedStrs`] store them in
/// `ceil(log2(distinct))` bits.
///
/// ```
/// use keel_runtime::layout::Interner;
///
/// let mut units = Interner::new();
/// let c = units.intern("°C");
/// let f = units.intern("°F");
/// assert_eq!(units.intern("°C"), c);
/// assert_eq!((c, f), (0, 1));
/// assert_eq!(units.resolve(f), Some("°F"));
/// assert_eq!(units.lookup("K"), None);
/// assert_eq!(units.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Interner {
    arena: StrArena,
    ids: HashTable<u32>,
    hasher: RandomState,
}

impl Interner {
    /// An empty interner.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// assert!(Interner::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct strings.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// i.intern("a");
    /// i.intern("a");
    /// assert_eq!(i.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.arena.len()
    }

    /// True when nothing has been interned.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// assert!(Interner::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.arena.is_empty()
    }

    /// The id of `text`, if it was interned.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// let id = i.intern("x");
    /// assert_eq!(i.lookup("x"), Some(id));
    /// ```
    pub fn lookup(&self, text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(text);
        self.ids
            .find(hash, |&id| self.arena.get(id as usize) == Some(text))
            .copied()
    }

    /// The id of `text`, storing it first if it is new.
    ///
    /// # Panics
    /// After `u32::MAX` distinct strings.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// assert_eq!(i.intern("x"), 0);
    /// assert_eq!(i.intern("y"), 1);
    /// assert_eq!(i.intern("x"), 0);
    /// ```
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(id) = self.lookup(text) {
            return id;
        }
        let id = u32::try_from(self.arena.len()).expect("at most u32::MAX distinct strings");
        self.arena.push(text);
        let hash = self.hasher.hash_one(text);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.ids.insert_unique(hash, id, |&other| {
            hasher.hash_one(arena.get(other as usize).unwrap_or_default())
        });
        id
    }

    /// The text of `id`, or `None` for an id this interner never gave out.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// let id = i.intern("x");
    /// assert_eq!(i.resolve(id), Some("x"));
    /// assert_eq!(i.resolve(id + 1), None);
    /// ```
    #[inline]
    pub fn resolve(&self, id: u32) -> Option<&str> {
        self.arena.get(id as usize)
    }

    /// Forgets every string.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// i.intern("x");
    /// i.clear();
    /// assert_eq!(i.lookup("x"), None);
    /// ```
    pub fn clear(&mut self) {
        self.arena.clear();
        self.ids.clear();
    }

    /// Gives back unused capacity.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// i.intern("x");
    /// i.shrink_to_fit();
    /// assert!(i.memory_bytes() > 0);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.ids
            .shrink_to_fit(|&id| hasher.hash_one(arena.get(id as usize).unwrap_or_default()));
    }

    /// Heap bytes held: the text, its offsets and the hash table.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// assert_eq!(i.memory_bytes(), 0);
    /// i.intern("°C");
    /// assert!(i.memory_bytes() >= 3 + 8 + 4);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.arena.memory_bytes() + self.ids.allocation_size()
    }

    /// The strings, in id order.
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut i = Interner::new();
    /// i.intern("b");
    /// i.intern("a");
    /// assert_eq!(i.iter().collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.arena.iter()
    }

    /// The distinct strings in id order, in one arena (id `i` is row `i`).
    ///
    /// ```
    /// # use keel_runtime::layout::Interner;
    /// let mut names = Interner::new();
    /// names.intern("b");
    /// names.intern("a");
    /// assert_eq!(names.strings().text(), "ba");
    /// ```
    pub fn strings(&self) -> &StrArena {
        &self.arena
    }
}

impl core::fmt::Debug for Interner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A column of strings stored as ids into a per-column [`Interner`]: the storage of
/// `#[compact(intern)] String` fields.
///
/// Ids are bit-packed and the column widens as distinct strings appear: with one distinct
/// string the ids take 0 bits, with 2 one bit, with 1000 ten bits. Strings stay in the interner
/// after the rows using them are removed (until [`clear`](Self::clear)), so a later row with the
/// same text reuses them.
///
/// ```
/// use keel_runtime::layout::InternedStrs;
///
/// let mut units = InternedStrs::new();
/// for _ in 0..1000 {
///     units.push("°C");
/// }
/// assert_eq!(units.id_bits(), 0);
/// units.push("°F");
/// assert_eq!(units.id_bits(), 1);
/// assert_eq!(units.get(999), Some("°C"));
/// assert_eq!(units.get(1000), Some("°F"));
/// assert_eq!(units.distinct(), 2);
/// ```
#[derive(Clone, Default)]
pub struct InternedStrs {
    interner: Interner,
    ids: PackedColumn,
}

impl InternedStrs {
    /// An empty column.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// assert!(InternedStrs::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no row.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// assert!(InternedStrs::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of distinct strings in the interner.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// c.push("x");
    /// assert_eq!(c.distinct(), 1);
    /// ```
    pub fn distinct(&self) -> usize {
        self.interner.len()
    }

    /// Bits per row currently used for ids.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// for s in ["a", "b", "c"] { c.push(s); }
    /// assert_eq!(c.id_bits(), 2);
    /// ```
    pub fn id_bits(&self) -> u32 {
        self.ids.bits()
    }

    /// The interner behind the column.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// assert_eq!(c.interner().lookup("x"), Some(0));
    /// ```
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Each row's id into the [`interner`](Self::interner), bit-packed.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// for unit in ["kg", "m", "kg"] { c.push(unit); }
    /// assert_eq!(c.ids().iter().collect::<Vec<_>>(), [0, 1, 0]);
    /// ```
    pub fn ids(&self) -> &crate::layout::PackedColumn {
        &self.ids
    }

    fn id_of(&mut self, text: &str) -> u64 {
        let id = self.interner.intern(text);
        self.ids.widen(bits_for(id.into()));
        id.into()
    }

    /// The text of row `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// assert_eq!(c.get(0), Some("x"));
    /// assert_eq!(c.get(1), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<&str> {
        let id = self.ids.get(index)?;
        self.interner.resolve(id as u32)
    }

    /// Appends a row.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// assert_eq!(c.get(0), Some("x"));
    /// ```
    pub fn push(&mut self, text: &str) {
        let id = self.id_of(text);
        self.ids.push(id);
    }

    /// Replaces the text of row `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// c.set(0, "y");
    /// assert_eq!(c.get(0), Some("y"));
    /// ```
    pub fn set(&mut self, index: usize, text: &str) {
        assert!(
            index < self.len(),
            "index out of bounds: the len is {} but the index is {index}",
            self.len()
        );
        let id = self.id_of(text);
        self.ids.set(index, id);
    }

    /// Removes the last row, returning its text.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("x");
    /// assert_eq!(c.pop().as_deref(), Some("x"));
    /// ```
    pub fn pop(&mut self) -> Option<String> {
        let id = self.ids.pop()?;
        self.interner.resolve(id as u32).map(str::to_owned)
    }

    /// Removes row `index`, moving the last row into its place.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("a");
    /// c.push("b");
    /// assert_eq!(c.swap_remove(0), "a");
    /// assert_eq!(c.get(0), Some("b"));
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> String {
        let id = self.ids.swap_remove(index);
        self.interner
            .resolve(id as u32)
            .unwrap_or_default()
            .to_owned()
    }

    /// Keeps the first `len` rows (the interner keeps its strings).
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("a");
    /// c.truncate(0);
    /// assert_eq!((c.len(), c.distinct()), (0, 1));
    /// ```
    pub fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
    }

    /// Removes every row and forgets every string.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("a");
    /// c.clear();
    /// assert_eq!((c.len(), c.distinct(), c.id_bits()), (0, 0, 0));
    /// ```
    pub fn clear(&mut self) {
        self.ids = PackedColumn::new(0);
        self.interner.clear();
    }

    /// Reserves room for `additional` more rows at the current id width.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.reserve(10);
    /// assert_eq!(c.memory_bytes(), 0); // ids of width 0 need no room
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve(additional);
    }

    /// Gives back unused capacity.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("a");
    /// c.shrink_to_fit();
    /// assert!(c.memory_bytes() > 0);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.interner.shrink_to_fit();
    }

    /// Heap bytes held: the packed ids and the whole interner.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("°C");
    /// assert_eq!(c.memory_bytes(), c.interner().memory_bytes());
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.ids.memory_bytes() + self.interner.memory_bytes()
    }

    /// The rows in order.
    ///
    /// ```
    /// # use keel_runtime::layout::InternedStrs;
    /// let mut c = InternedStrs::new();
    /// c.push("a");
    /// assert_eq!(c.iter().collect::<Vec<_>>(), ["a"]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl core::fmt::Debug for InternedStrs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_set_in_the_middle_shifts_later_rows() {
        let mut a = StrArena::new();
        for s in ["one", "two", "three"] {
            a.push(s);
        }
        a.set(1, "");
        assert_eq!(a.iter().collect::<Vec<_>>(), ["one", "", "three"]);
        a.set(1, "twenty-two");
        assert_eq!(a.iter().collect::<Vec<_>>(), ["one", "twenty-two", "three"]);
        assert_eq!(a.swap_remove(0), "one");
        assert_eq!(a.iter().collect::<Vec<_>>(), ["three", "twenty-two"]);
        assert_eq!(a.text_len(), "threetwenty-two".len());
    }

    #[test]
    fn interner_dedups_and_survives_rehash() {
        let mut i = Interner::new();
        for n in 0..5000 {
            assert_eq!(i.intern(&format!("s{n}")), n);
        }
        for n in (0..5000).rev() {
            assert_eq!(i.intern(&format!("s{n}")), n);
            assert_eq!(i.resolve(n), Some(format!("s{n}").as_str()));
        }
        assert_eq!(i.len(), 5000);
    }

    #[test]
    fn interned_column_widens_as_strings_appear() {
        let mut c = InternedStrs::new();
        let names: Vec<String> = (0..300).map(|n| format!("u{n}")).collect();
        for n in &names {
            c.push(n);
        }
        assert_eq!(c.id_bits(), 9);
        assert_eq!(c.iter().collect::<Vec<_>>(), names);
    }
}
