//! Bit-packed integer columns and the bitmap for `bool` fields.

/// A column of unsigned integers stored in exactly `bits` bits each, back to back in `u64` words.
///
/// Values cross word boundaries freely, so a 5-bit column of a million rows takes 625 000 bytes.
/// The width can grow later ([`widen`](Self::widen)), which re-packs every value; a width of 0
/// stores nothing at all (every value reads back as 0). `#[derive(Compact)]` uses it for integer
/// fields whose `#[bounded(..)]` range or `#[compact(bits = N)]` is narrower than their type (the
/// stored value is the offset from the range's lower bound), for fieldless enums and for interned
/// string ids.
///
/// ```
/// use keel_runtime::layout::PackedColumn;
///
/// let mut col = PackedColumn::new(5);
/// for v in [0, 31, 7, 19] {
///     col.push(v);
/// }
/// assert_eq!(col.get(1), Some(31));
/// assert_eq!(col.iter().collect::<Vec<_>>(), [0, 31, 7, 19]);
/// assert_eq!(col.memory_bytes(), col.capacity_words() * 8);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct PackedColumn {
    /// Invariant: when `bits > 0`, `words.len() == words_for(len, bits)`, which keeps one spare
    /// word after the last value so a read may always touch `words[w + 1]`.
    words: Vec<u64>,
    len: usize,
    bits: u32,
    mask: u64,
}

const fn mask_for(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

const fn words_for(len: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (len * bits as usize).div_ceil(64) + 1
    }
}

/// The number of bits needed to store every value of `0..=max_offset`: 0 for 0, 1 for 1,
/// 8 for 255, 64 for `u64::MAX`.
///
/// ```
/// use keel_runtime::layout::bits_for;
/// assert_eq!(bits_for(0), 0);
/// assert_eq!(bits_for(200), 8); // -50..=150 spans 200 offsets
/// assert_eq!(bits_for(256), 9);
/// ```
pub const fn bits_for(max_offset: u128) -> u32 {
    128 - max_offset.leading_zeros()
}

impl PackedColumn {
    /// An empty column of `bits`-bit values.
    ///
    /// # Panics
    /// When `bits > 64`.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// assert_eq!(PackedColumn::new(12).bits(), 12);
    /// ```
    pub const fn new(bits: u32) -> Self {
        assert!(
            bits <= 64,
            "a packed column holds at most 64 bits per value"
        );
        Self {
            words: Vec::new(),
            len: 0,
            bits,
            mask: mask_for(bits),
        }
    }

    /// An empty column with room for `rows` values before it reallocates.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let col = PackedColumn::with_capacity(8, 1000);
    /// assert!(col.memory_bytes() >= 1000);
    /// ```
    pub fn with_capacity(bits: u32, rows: usize) -> Self {
        let mut col = Self::new(bits);
        col.words.reserve_exact(words_for(rows, bits));
        col
    }

    /// Bits per value.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// assert_eq!(PackedColumn::new(3).bits(), 3);
    /// ```
    pub const fn bits(&self) -> u32 {
        self.bits
    }

    /// The largest value this column can store.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// assert_eq!(PackedColumn::new(3).max_value(), 7);
    /// assert_eq!(PackedColumn::new(0).max_value(), 0);
    /// ```
    pub const fn max_value(&self) -> u64 {
        self.mask
    }

    /// Number of values.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(1);
    /// col.push(1);
    /// assert_eq!(col.len(), 1);
    /// ```
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when the column holds no value.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// assert!(PackedColumn::new(1).is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value at `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(9);
    /// col.push(300);
    /// assert_eq!(col.get(0), Some(300));
    /// assert_eq!(col.get(1), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<u64> {
        if index >= self.len {
            return None;
        }
        if self.bits == 0 {
            return Some(0);
        }
        let bit = index * self.bits as usize;
        let word = bit / 64;
        let offset = (bit % 64) as u32;
        // The spare word guarantees `word + 1` exists (one bounds check for both reads).
        let &[first, second] = self.words.get(word..word + 2)? else {
            return None;
        };
        let low = first >> offset;
        // Shifting in two steps keeps the amount below 64 when `offset == 0` (high part 0).
        let high = (second << 1) << (63 - offset);
        Some((low | high) & self.mask)
    }

    /// `get_fixed` with a `BITS` that is not the column's: kept out of line so the fast path
    /// stays small where it is inlined.
    #[cold]
    #[inline(never)]
    fn get_other_width(&self, index: usize) -> Option<u64> {
        self.get(index)
    }

    /// [`get`](Self::get) where the width is a constant at the call site, as in the code
    /// `#[derive(Compact)]` generates: the shifts and the mask fold into constants, and a width
    /// that divides 64 (1, 2, 4, 8, 16, 32) reads one word. A `BITS` that is not this column's
    /// width falls back to [`get`](Self::get), so the answer is the same either way.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(8);
    /// col.push(200);
    /// col.push(7);
    /// assert_eq!(col.get_fixed::<8>(1), Some(7));
    /// assert_eq!(col.get_fixed::<8>(2), None);
    /// assert_eq!(col.get_fixed::<3>(0), Some(200), "a wrong width still reads correctly");
    /// ```
    #[inline(always)]
    pub fn get_fixed<const BITS: u32>(&self, index: usize) -> Option<u64> {
        if BITS != self.bits {
            return self.get_other_width(index);
        }
        if index >= self.len {
            return None;
        }
        if BITS == 0 {
            return Some(0);
        }
        let bit = index * BITS as usize;
        let word = bit / 64;
        let offset = (bit % 64) as u32;
        let mask = mask_for(BITS);
        if 64 % BITS == 0 {
            // Values never straddle two words.
            return self.words.get(word).map(|&w| (w >> offset) & mask);
        }
        let &[first, second] = self.words.get(word..word + 2)? else {
            return None;
        };
        Some(((first >> offset) | ((second << 1) << (63 - offset))) & mask)
    }

    /// Overwrites the value at `index`.
    ///
    /// # Panics
    /// When `index >= len()`, or (in debug builds) when `value` does not fit in `bits()` bits;
    /// release builds keep only the low `bits()` bits.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(4);
    /// col.push(1);
    /// col.set(0, 15);
    /// assert_eq!(col.get(0), Some(15));
    /// ```
    #[inline]
    pub fn set(&mut self, index: usize, value: u64) {
        assert!(
            index < self.len,
            "index out of bounds: the len is {} but the index is {index}",
            self.len
        );
        self.write(index, value);
    }

    #[inline]
    fn write(&mut self, index: usize, value: u64) {
        debug_assert!(
            value <= self.mask,
            "{value} does not fit in {} bits",
            self.bits
        );
        if self.bits == 0 {
            return;
        }
        let value = value & self.mask;
        let bit = index * self.bits as usize;
        let word = bit / 64;
        let offset = (bit % 64) as u32;
        self.words[word] = (self.words[word] & !(self.mask << offset)) | (value << offset);
        let written = 64 - offset;
        if written < self.bits {
            let high_mask = self.mask >> written;
            self.words[word + 1] = (self.words[word + 1] & !high_mask) | (value >> written);
        }
    }

    /// Appends a value.
    ///
    /// # Panics
    /// In debug builds when `value` does not fit in `bits()` bits; release builds keep only the
    /// low `bits()` bits. Callers that take user input check first (generated containers return a
    /// `BoundsError` before anything is stored).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(2);
    /// col.push(3);
    /// assert_eq!(col.get(0), Some(3));
    /// ```
    #[inline]
    pub fn push(&mut self, value: u64) {
        self.len += 1;
        let needed = words_for(self.len, self.bits);
        if needed > self.words.len() {
            self.words.resize(needed, 0);
        }
        self.write(self.len - 1, value);
    }

    /// Removes and returns the last value.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(2);
    /// col.push(2);
    /// assert_eq!(col.pop(), Some(2));
    /// assert_eq!(col.pop(), None);
    /// ```
    pub fn pop(&mut self) -> Option<u64> {
        let last = self.get(self.len.checked_sub(1)?)?;
        self.truncate(self.len - 1);
        Some(last)
    }

    /// Removes the value at `index`, replacing it with the last one (O(1), order not kept).
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(4);
    /// for v in [1, 2, 3] { col.push(v); }
    /// assert_eq!(col.swap_remove(0), 1);
    /// assert_eq!(col.iter().collect::<Vec<_>>(), [3, 2]);
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> u64 {
        let Some(removed) = self.get(index) else {
            panic!(
                "swap_remove index (is {index}) should be < len (is {})",
                self.len
            );
        };
        let last = self.len - 1;
        if index != last {
            let moved = self.get(last).unwrap_or(0);
            self.write(index, moved);
        }
        self.truncate(last);
        removed
    }

    /// Keeps the first `len` values (no effect when `len >= self.len()`).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(4);
    /// for v in [1, 2, 3] { col.push(v); }
    /// col.truncate(1);
    /// assert_eq!(col.iter().collect::<Vec<_>>(), [1]);
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        self.words.truncate(words_for(len, self.bits));
    }

    /// Removes every value, keeping the allocation.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(4);
    /// col.push(1);
    /// col.clear();
    /// assert!(col.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Reserves room for `additional` more values.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(8);
    /// col.reserve(64);
    /// assert!(col.capacity_words() >= 8);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        let needed = words_for(self.len + additional, self.bits);
        self.words.reserve(needed.saturating_sub(self.words.len()));
    }

    /// Gives back unused capacity.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::with_capacity(8, 10_000);
    /// col.push(1);
    /// col.shrink_to_fit();
    /// assert_eq!(col.memory_bytes(), 16); // one word of data, one spare
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
    }

    /// Words allocated (each 8 bytes).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// assert_eq!(PackedColumn::new(8).capacity_words(), 0);
    /// ```
    pub fn capacity_words(&self) -> usize {
        self.words.capacity()
    }

    /// Heap bytes held (allocated capacity, not just the used part).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(0);
    /// for _ in 0..1000 { col.push(0); }
    /// assert_eq!(col.memory_bytes(), 0); // a zero-width column stores nothing
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.words.capacity() * size_of::<u64>()
    }

    /// Re-packs every value into `bits` bits (no effect when `bits <= self.bits()`).
    ///
    /// # Panics
    /// When `bits > 64`.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(1);
    /// col.push(1);
    /// col.widen(9);
    /// col.push(400);
    /// assert_eq!(col.iter().collect::<Vec<_>>(), [1, 400]);
    /// ```
    pub fn widen(&mut self, bits: u32) {
        if bits <= self.bits {
            return;
        }
        let mut wider = Self::with_capacity(bits, self.len);
        for value in self.iter() {
            wider.push(value);
        }
        *self = wider;
    }

    /// The values in order.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(3);
    /// col.push(5);
    /// assert_eq!(col.iter().sum::<u64>(), 5);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u64> + DoubleEndedIterator + '_ {
        (0..self.len).map(|i| self.get(i).unwrap_or(0))
    }

    /// Every value passed through `f`, collected in one sequential pass over the words (the
    /// Arrow conversion decodes a column into its Arrow type this way).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(9);
    /// for v in [300, 2, 511] { col.push(v); }
    /// assert_eq!(col.map_collect(|v| v as i32 - 100), [200, -98, 411]);
    /// ```
    pub fn map_collect<T>(&self, f: impl FnMut(u64) -> T) -> Vec<T> {
        self.map_collect_range(0..self.len, f)
    }

    /// [`map_collect`](Self::map_collect) over the values at `range` only.
    ///
    /// # Panics
    /// When `range` ends past `len()` or starts after it ends.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(5);
    /// for v in 0..20 { col.push(v); }
    /// assert_eq!(col.map_collect_range(13..16, |v| v * 2), [26, 28, 30]);
    /// ```
    pub fn map_collect_range<T>(
        &self,
        range: core::ops::Range<usize>,
        mut f: impl FnMut(u64) -> T,
    ) -> Vec<T> {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "range {range:?} out of bounds for a column of {} values",
            self.len
        );
        let len = range.end - range.start;
        let mut out = Vec::with_capacity(len);
        if self.bits == 0 {
            out.extend((0..len).map(|_| f(0)));
            return out;
        }
        let bits = self.bits as usize;
        let first_bit = range.start * bits;
        if 64 % bits == 0 && first_bit.is_multiple_of(64) {
            // Values never straddle two words, and the range starts on a word: peel each word.
            let per_word = 64 / bits;
            let first_word = first_bit / 64;
            let full_words = len / per_word;
            for &word in &self.words[first_word..first_word + full_words] {
                let mut word = word;
                for _ in 0..per_word {
                    out.push(f(word & self.mask));
                    word = word.checked_shr(bits as u32).unwrap_or(0);
                }
            }
            let mut word = self
                .words
                .get(first_word + full_words)
                .copied()
                .unwrap_or(0);
            for _ in full_words * per_word..len {
                out.push(f(word & self.mask));
                word = word.checked_shr(bits as u32).unwrap_or(0);
            }
            return out;
        }
        // The spare word keeps `word + 1` in range for the last value.
        let mut bit = first_bit;
        for _ in 0..len {
            let word = bit / 64;
            let offset = (bit % 64) as u32;
            let (first, second) = (self.words[word], self.words[word + 1]);
            out.push(f(
                ((first >> offset) | ((second << 1) << (63 - offset))) & self.mask
            ));
            bit += bits;
        }
        out
    }

    /// The words the values are packed in, least significant bit first (value `i` starts at bit
    /// `i * bits()`; a spare word follows the last value). Read-only: the Arrow conversion
    /// copies a 1-bit column's words into a validity-free boolean buffer with one `memcpy`.
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(4);
    /// col.push(0xA);
    /// col.push(0x3);
    /// assert_eq!(col.words()[0], 0x3A);
    /// ```
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The column's words, moved out without copying (see [`words`](Self::words)).
    ///
    /// ```
    /// # use keel_runtime::layout::PackedColumn;
    /// let mut col = PackedColumn::new(8);
    /// col.push(7);
    /// assert_eq!(col.into_words()[0], 7);
    /// ```
    pub fn into_words(self) -> Vec<u64> {
        self.words
    }
}

impl core::fmt::Debug for PackedColumn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PackedColumn<{} bits>", self.bits)?;
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A column of `bool`s, one bit each: the storage of `bool` fields in `#[derive(Compact)]`
/// containers.
///
/// ```
/// use keel_runtime::layout::Bitmap;
///
/// let mut flags = Bitmap::new();
/// for i in 0..100 {
///     flags.push(i % 3 == 0);
/// }
/// assert_eq!(flags.get(3), Some(true));
/// assert_eq!(flags.get(4), Some(false));
/// assert_eq!(flags.count_ones(), 34);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bitmap(PackedColumn);

impl Bitmap {
    /// The bits in `u64` words, row `i` at bit `i % 64` of word `i / 64`: on a little-endian
    /// machine exactly the byte and bit order of an Arrow boolean buffer.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut flags = Bitmap::new();
    /// for on in [true, false, true] { flags.push(on); }
    /// assert_eq!(flags.words()[0], 0b101);
    /// ```
    pub fn words(&self) -> &[u64] {
        self.0.words()
    }

    /// The words, moved out without copying (see [`words`](Self::words)).
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut flags = Bitmap::new();
    /// flags.push(true);
    /// assert_eq!(flags.into_words()[0], 1);
    /// ```
    pub fn into_words(self) -> Vec<u64> {
        self.0.into_words()
    }

    /// An empty bitmap.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// assert!(Bitmap::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Self(PackedColumn::new(1))
    }

    /// An empty bitmap with room for `rows` bits.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// assert!(Bitmap::with_capacity(640).memory_bytes() >= 80);
    /// ```
    pub fn with_capacity(rows: usize) -> Self {
        Self(PackedColumn::with_capacity(1, rows))
    }

    /// Number of bits.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// assert_eq!(b.len(), 1);
    /// ```
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// assert!(Bitmap::new().is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bit at `index`, or `None` past the end.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// assert_eq!(b.get(0), Some(true));
    /// assert_eq!(b.get(1), None);
    /// ```
    #[inline]
    pub fn get(&self, index: usize) -> Option<bool> {
        self.0.get_fixed::<1>(index).map(|bit| bit != 0)
    }

    /// Overwrites the bit at `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// b.set(0, false);
    /// assert_eq!(b.get(0), Some(false));
    /// ```
    pub fn set(&mut self, index: usize, value: bool) {
        self.0.set(index, value.into());
    }

    /// Appends a bit.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(false);
    /// assert_eq!(b.get(0), Some(false));
    /// ```
    #[inline]
    pub fn push(&mut self, value: bool) {
        self.0.push(value.into());
    }

    /// Removes and returns the last bit.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// assert_eq!(b.pop(), Some(true));
    /// ```
    pub fn pop(&mut self) -> Option<bool> {
        self.0.pop().map(|bit| bit != 0)
    }

    /// Removes the bit at `index`, replacing it with the last one.
    ///
    /// # Panics
    /// When `index >= len()`.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// b.push(false);
    /// assert!(b.swap_remove(0));
    /// assert_eq!(b.get(0), Some(false));
    /// ```
    pub fn swap_remove(&mut self, index: usize) -> bool {
        self.0.swap_remove(index) != 0
    }

    /// Keeps the first `len` bits.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// b.truncate(0);
    /// assert!(b.is_empty());
    /// ```
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Removes every bit; capacity is kept.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// b.clear();
    /// assert!(b.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.0.truncate(0);
    }

    /// Reserves room for `additional` more bits.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.reserve(1);
    /// assert!(b.memory_bytes() > 0);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    /// Gives back unused capacity.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::with_capacity(10_000);
    /// b.shrink_to_fit();
    /// assert_eq!(b.memory_bytes(), 0);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    /// Heap bytes held.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// assert_eq!(Bitmap::new().memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }

    /// Number of `true` bits.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// b.push(false);
    /// assert_eq!(b.count_ones(), 1);
    /// ```
    pub fn count_ones(&self) -> usize {
        self.iter().filter(|&bit| bit).count()
    }

    /// The bits in order.
    ///
    /// ```
    /// # use keel_runtime::layout::Bitmap;
    /// let mut b = Bitmap::new();
    /// b.push(true);
    /// assert_eq!(b.iter().collect::<Vec<_>>(), [true]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = bool> + DoubleEndedIterator + '_ {
        self.0.iter().map(|bit| bit != 0)
    }
}

impl core::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_collect_decodes_what_get_reads_at_every_width() {
        for bits in 0..=64u32 {
            for len in [0usize, 1, 7, 63, 64, 65, 129, 200] {
                let mut col = PackedColumn::new(bits);
                for i in 0..len as u64 {
                    col.push(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & col.max_value());
                }
                let expected: Vec<u64> = col.iter().collect();
                assert_eq!(col.map_collect(|v| v), expected, "bits {bits}, len {len}");
                for start in [0, 1, 3, 64.min(len)] {
                    let start = start.min(len);
                    assert_eq!(
                        col.map_collect_range(start..len, |v| v),
                        expected[start..],
                        "bits {bits}, len {len}, from {start}"
                    );
                }
                col.truncate(len / 2);
                let expected: Vec<u64> = col.iter().collect();
                assert_eq!(col.map_collect(|v| v), expected, "bits {bits}, truncated");
            }
        }
    }

    #[test]
    fn every_width_round_trips_across_word_boundaries() {
        for bits in 0..=64u32 {
            let mask = mask_for(bits);
            let mut col = PackedColumn::new(bits);
            let values: Vec<u64> = (0..200u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask)
                .collect();
            for &v in &values {
                col.push(v);
            }
            assert_eq!(col.iter().collect::<Vec<_>>(), values, "bits = {bits}");
            // Overwrite in the middle and check the neighbours are untouched.
            col.set(100, mask);
            assert_eq!(col.get(99), Some(values[99]));
            assert_eq!(col.get(100), Some(mask));
            assert_eq!(col.get(101), Some(values[101]));
        }
    }

    #[test]
    fn get_fixed_reads_what_get_reads_at_every_constant_width() {
        fn check<const BITS: u32>() {
            let mask = mask_for(BITS);
            let mut col = PackedColumn::new(BITS);
            for i in 0..300u64 {
                col.push(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask);
            }
            for i in 0..=300 {
                assert_eq!(
                    col.get_fixed::<BITS>(i),
                    col.get(i),
                    "bits {BITS}, index {i}"
                );
            }
            assert_eq!(col.get_fixed::<BITS>(300), None);
        }
        check::<0>();
        check::<1>();
        check::<2>();
        check::<3>();
        check::<7>();
        check::<8>();
        check::<13>();
        check::<16>();
        check::<31>();
        check::<32>();
        check::<33>();
        check::<63>();
        check::<64>();
        // A width that is not the column's own still reads the right values.
        let mut col = PackedColumn::new(5);
        col.push(17);
        assert_eq!(col.get_fixed::<8>(0), Some(17));
    }

    #[test]
    fn truncate_then_push_does_not_resurrect_old_bits() {
        let mut col = PackedColumn::new(7);
        for _ in 0..20 {
            col.push(127);
        }
        col.truncate(3);
        col.push(0);
        col.push(1);
        assert_eq!(col.iter().collect::<Vec<_>>(), [127, 127, 127, 0, 1]);
    }

    #[test]
    fn widen_keeps_values() {
        let mut col = PackedColumn::new(0);
        col.push(0);
        col.push(0);
        col.widen(1);
        col.push(1);
        col.widen(13);
        col.push(8000);
        assert_eq!(col.iter().collect::<Vec<_>>(), [0, 0, 1, 8000]);
    }

    #[test]
    fn memory_is_bits_times_rows() {
        let mut col = PackedColumn::with_capacity(8, 1_000_000);
        for i in 0..1_000_000u64 {
            col.push(i & 0xff);
        }
        assert_eq!(col.memory_bytes(), 1_000_000 + 8);
    }
}
