//! The storage behind a context: an `Arc`'d vector of entries sorted by variable id, copied on
//! write.
//!
//! Why not a HAMT (`rpds`, `imbl`) as CPython uses? A program has a handful of context
//! variables, not thousands. For that size a sorted vector answers a lookup with one short scan
//! of contiguous memory, a snapshot is one `Arc` clone, and a write copies a few pointers only
//! when a snapshot is alive (otherwise it edits in place). `benches/context.rs` measures the
//! three side by side (group `context_storage`); see BENCHMARKS.md for the figures.

use core::any::{Any, TypeId};
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

/// A stored value. `Arc` so a copy-on-write clones pointers, never user values.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// One variable's value in one context. The fields are private to this module: `type_id` must
/// always be the concrete type of `value` (see `Vars::get_typed`), and only
/// `Vars::insert_with_type` writes them.
#[derive(Clone)]
pub(crate) struct Entry {
    id: usize,
    type_id: TypeId,
    name: &'static str,
    value: Value,
}

/// A persistent map from variable id to value. `None` is the empty map (no allocation).
///
/// Only this module makes `Arc`s to the vector (the field is private) and it never makes a
/// `Weak` to one: [`entries_mut`](Self::entries_mut) relies on that.
#[derive(Clone, Default)]
pub(crate) struct Vars(Option<Arc<Vec<Entry>>>);

impl Vars {
    pub(crate) const EMPTY: Vars = Vars(None);

    #[inline]
    fn entries(&self) -> &[Entry] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    #[inline]
    fn position(entries: &[Entry], id: usize) -> Result<usize, usize> {
        // Few variables: a linear scan over contiguous ids beats a binary search's branches.
        if entries.len() <= 8 {
            for (i, e) in entries.iter().enumerate() {
                if e.id >= id {
                    return if e.id == id { Ok(i) } else { Err(i) };
                }
            }
            Err(entries.len())
        } else {
            entries.binary_search_by_key(&id, |e| e.id)
        }
    }

    /// The value of variable `id` as a `T`, with the type checked against the `TypeId` kept
    /// beside it rather than through `dyn Any`'s virtual `type_id` call.
    #[inline]
    pub(crate) fn get_typed<T: Any>(&self, id: usize) -> Option<&T> {
        let entries = self.entries();
        let entry = &entries[Self::position(entries, id).ok()?];
        if entry.type_id != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: `type_id` is the `TypeId` of the value's concrete type: `insert_with_type`, the
        // only writer, requires it, and its callers take it from the value itself (`insert`,
        // through the vtable) or from the type they wrap (`insert_new`). Equal `TypeId`s mean
        // the `Arc` holds a `T`, so the data pointer of the `dyn Any` points at a live,
        // initialised `T`, borrowed for as long as `self`.
        Some(unsafe { &*Arc::as_ptr(&entry.value).cast::<T>() })
    }

    #[inline]
    pub(crate) fn get(&self, id: usize) -> Option<&Value> {
        let entries = self.entries();
        Self::position(entries, id).ok().map(|i| &entries[i].value)
    }

    /// The vector, to change in place, copied first if a snapshot shares it. Like
    /// `Arc::make_mut`, but without its atomic read-modify-write when the vector is not shared.
    #[inline]
    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        let shared = self.0.get_or_insert_with(|| Arc::new(Vec::new()));
        if Arc::strong_count(shared) == 1 {
            // Pairs with the `Release` decrement of any snapshot dropped on another thread, so
            // that its reads of the vector happen before the writes below.
            fence(Ordering::Acquire);
            // SAFETY: `shared` is the only `Arc` to the vector: the strong count is 1 and no
            // `Weak` to it exists (this module never makes one, so none can be upgraded into a
            // second `Arc` meanwhile); a new `Arc` could only be cloned from this one, which
            // `&mut self` borrows exclusively. With the fence above, every access through
            // dropped clones happens before this borrow, so it is the only reference to the
            // vector for its whole lifetime. `Arc::as_ptr` keeps the provenance of the
            // allocation, as `Arc::get_mut` does.
            unsafe { &mut *Arc::as_ptr(shared).cast_mut() }
        } else {
            Arc::make_mut(shared)
        }
    }

    /// Sets `id` to `value`, returning the value it replaces. Copies the vector only if a
    /// snapshot shares it.
    pub(crate) fn insert(&mut self, id: usize, name: &'static str, value: Value) -> Option<Value> {
        let type_id = (*value).type_id();
        // SAFETY: `type_id` was just read from the value itself.
        unsafe { self.insert_with_type(id, name, value, type_id) }
    }

    /// [`insert`](Self::insert) of a new value of a known type, without asking the value for
    /// its type through `dyn Any`.
    #[inline]
    pub(crate) fn insert_new<T: Any + Send + Sync>(
        &mut self,
        id: usize,
        name: &'static str,
        value: T,
    ) -> Option<Value> {
        // SAFETY: the value is the `T` whose `TypeId` is passed.
        unsafe { self.insert_with_type(id, name, Arc::new(value), TypeId::of::<T>()) }
    }

    /// Sets `id` to `value`, recording `type_id` as its type.
    ///
    /// # Safety
    ///
    /// `type_id` must be the `TypeId` of `value`'s concrete type: [`get_typed`](Self::get_typed)
    /// casts on its word.
    #[inline]
    unsafe fn insert_with_type(
        &mut self,
        id: usize,
        name: &'static str,
        value: Value,
        type_id: TypeId,
    ) -> Option<Value> {
        let entries = self.entries_mut();
        match Self::position(entries, id) {
            Ok(i) => {
                entries[i].type_id = type_id;
                Some(core::mem::replace(&mut entries[i].value, value))
            }
            Err(i) => {
                entries.insert(
                    i,
                    Entry {
                        id,
                        type_id,
                        name,
                        value,
                    },
                );
                None
            }
        }
    }

    /// Removes `id`, returning its value.
    pub(crate) fn remove(&mut self, id: usize) -> Option<Value> {
        let i = Self::position(self.entries(), id).ok()?;
        let entries = self.entries_mut();
        let removed = entries.remove(i).value;
        if entries.is_empty() {
            self.0 = None;
        }
        Some(removed)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    /// The vector's address, null for the empty map (for tests).
    #[cfg(test)]
    pub(crate) fn address(&self) -> *const () {
        self.0
            .as_ref()
            .map_or(core::ptr::null(), |v| Arc::as_ptr(v).cast())
    }

    /// Whether this is the empty map without a vector.
    #[inline]
    pub(crate) fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether both maps hold the same vector (not merely equal contents). Two empty maps share
    /// nothing.
    #[inline]
    pub(crate) fn same_vector(&self, other: &Vars) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(crate) fn names(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        self.entries().iter().map(|e| e.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: u32) -> Value {
        Arc::new(v)
    }

    fn read(vars: &Vars, id: usize) -> Option<u32> {
        vars.get(id).and_then(|v| v.downcast_ref::<u32>()).copied()
    }

    #[test]
    fn typed_reads_check_the_type_kept_beside_the_value() {
        let mut vars = Vars::default();
        vars.insert(1, "n", value(7));
        vars.insert(2, "s", Arc::new(String::from("text")));
        assert_eq!(vars.get_typed::<u32>(1), Some(&7));
        assert_eq!(
            vars.get_typed::<String>(2).map(String::as_str),
            Some("text")
        );
        // The wrong type, or a missing id, reads nothing.
        assert_eq!(vars.get_typed::<u64>(1), None);
        assert_eq!(vars.get_typed::<u32>(2), None);
        assert_eq!(vars.get_typed::<u32>(3), None);
        // Replacing a value with one of another type moves the recorded type along, whichever
        // way the value comes.
        vars.insert(1, "n", Arc::new(-1i64));
        assert_eq!(vars.get_typed::<u32>(1), None);
        assert_eq!(vars.get_typed::<i64>(1), Some(&-1));
        vars.insert_new(1, "n", 5u8);
        assert_eq!(vars.get_typed::<i64>(1), None);
        assert_eq!(vars.get_typed::<u8>(1), Some(&5));
    }

    #[test]
    fn insert_get_remove_keep_entries_sorted_at_every_size() {
        let mut vars = Vars::default();
        // Insert out of order, past the linear-scan threshold, to exercise both search paths.
        let ids: Vec<usize> = (1..=20).map(|i| (i * 7) % 23).collect();
        for &id in &ids {
            assert!(vars.insert(id, "v", value(id as u32)).is_none());
        }
        assert_eq!(vars.len(), ids.len());
        let sorted: Vec<usize> = vars.entries().iter().map(|e| e.id).collect();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(sorted, expected);
        for &id in &ids {
            assert_eq!(read(&vars, id), Some(id as u32));
        }
        assert_eq!(read(&vars, 1000), None);
        let old = vars.insert(ids[3], "v", value(99)).unwrap();
        assert_eq!(old.downcast_ref::<u32>(), Some(&(ids[3] as u32)));
        for &id in &ids {
            assert!(vars.remove(id).is_some());
            assert!(vars.remove(id).is_none());
        }
        assert!(vars.0.is_none(), "an emptied map frees its vector");
    }

    fn vector(vars: &Vars) -> *const Vec<Entry> {
        vars.0.as_ref().map_or(core::ptr::null(), Arc::as_ptr)
    }

    #[test]
    fn writes_edit_in_place_exactly_when_no_snapshot_shares_the_vector() {
        let mut vars = Vars::default();
        vars.insert_new(1, "a", 1u32);
        let first = vector(&vars);
        vars.insert_new(2, "b", 2u32);
        vars.insert_new(1, "a", 3u32);
        assert_eq!(vector(&vars), first, "sole owner: in place");

        // A snapshot of a snapshot keeps the vector shared after the middle one is gone.
        let middle = vars.clone();
        let inner = middle.clone();
        drop(middle);
        vars.insert_new(1, "a", 4u32);
        assert_ne!(vector(&vars), first, "shared: copied");
        assert_eq!(read(&inner, 1), Some(3));
        assert_eq!(read(&vars, 1), Some(4));

        // The copy is this map's own: the next writes edit it in place.
        let copy = vector(&vars);
        vars.insert_new(3, "c", 5u32);
        assert_eq!(vector(&vars), copy);

        // A snapshot taken and dropped leaves the vector unshared and where it is.
        drop(vars.clone());
        vars.insert_new(3, "c", 6u32);
        assert_eq!(vector(&vars), copy);

        // A snapshot dropped on another thread, after reading the vector there.
        let elsewhere = vars.clone();
        let seen = std::thread::spawn(move || read(&elsewhere, 3))
            .join()
            .unwrap();
        assert_eq!(seen, Some(6));
        vars.remove(3);
        assert_eq!(vector(&vars), copy);

        // Writing to a snapshot copies, leaving the original alone.
        let mut snapshot = vars.clone();
        snapshot.remove(2);
        assert_eq!(read(&vars, 2), Some(2));
        assert_eq!(read(&snapshot, 2), None);
        assert_eq!(vector(&vars), copy);
        assert_eq!(read(&inner, 1), Some(3), "the oldest snapshot never moved");
    }

    #[test]
    fn a_snapshot_is_untouched_by_later_writes() {
        let mut vars = Vars::default();
        vars.insert(1, "a", value(1));
        let snapshot = vars.clone();
        vars.insert(1, "a", value(2));
        vars.insert(2, "b", value(3));
        vars.remove(1);
        assert_eq!(read(&snapshot, 1), Some(1));
        assert_eq!(read(&snapshot, 2), None);
        assert_eq!(read(&vars, 1), None);
        assert_eq!(read(&vars, 2), Some(3));
    }
}
