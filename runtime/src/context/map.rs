//! The storage behind a context: an `Arc`'d vector of entries sorted by variable id, copied on
//! write.
//!
//! Why not a HAMT (`rpds`, `imbl`) as CPython uses? A program has a handful of context
//! variables, not thousands. For that size a sorted vector answers a lookup with one short scan
//! of contiguous memory, a snapshot is one `Arc` clone, and a write copies a few pointers only
//! when a snapshot is alive (otherwise it edits in place). `benches/context.rs` measures the
//! three side by side (group `context_storage`); see BENCHMARKS.md for the figures.

use core::any::Any;
use std::sync::Arc;

/// A stored value. `Arc` so a copy-on-write clones pointers, never user values.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// One variable's value in one context. The fields are private to this module: `type_id` must
/// always be the concrete type of `value` (see `Vars::get_typed`), and only `insert` writes them.
#[derive(Clone)]
pub(crate) struct Entry {
    id: usize,
    type_id: core::any::TypeId,
    name: &'static str,
    value: Value,
}

/// A persistent map from variable id to value. `None` is the empty map (no allocation).
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
    pub(crate) fn get_typed<T: core::any::Any>(&self, id: usize) -> Option<&T> {
        let entries = self.entries();
        let entry = &entries[Self::position(entries, id).ok()?];
        if entry.type_id != core::any::TypeId::of::<T>() {
            return None;
        }
        // SAFETY: `type_id` is the `TypeId` of the value's concrete type: `insert` takes it from
        // the value itself (`Any::type_id` through the vtable), and the value is never replaced
        // without updating it. Equal `TypeId`s mean the `Arc` holds a `T`, so the data pointer
        // of the `dyn Any` points at a live, initialised `T`, borrowed for as long as `self`.
        Some(unsafe { &*Arc::as_ptr(&entry.value).cast::<T>() })
    }

    #[inline]
    pub(crate) fn get(&self, id: usize) -> Option<&Value> {
        let entries = self.entries();
        Self::position(entries, id).ok().map(|i| &entries[i].value)
    }

    /// Sets `id` to `value`, returning the value it replaces. Copies the vector only if a
    /// snapshot shares it.
    pub(crate) fn insert(&mut self, id: usize, name: &'static str, value: Value) -> Option<Value> {
        let entries = Arc::make_mut(self.0.get_or_insert_with(|| Arc::new(Vec::new())));
        match Self::position(entries, id) {
            Ok(i) => {
                entries[i].type_id = (*value).type_id();
                Some(core::mem::replace(&mut entries[i].value, value))
            }
            Err(i) => {
                let type_id = (*value).type_id();
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
        let shared = self.0.as_mut()?;
        let entries = Arc::make_mut(shared);
        let removed = entries.remove(i).value;
        if entries.is_empty() {
            self.0 = None;
        }
        Some(removed)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
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
        // Replacing a value with one of another type moves the recorded type along.
        vars.insert(1, "n", Arc::new(-1i64));
        assert_eq!(vars.get_typed::<u32>(1), None);
        assert_eq!(vars.get_typed::<i64>(1), Some(&-1));
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
