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

/// One variable's value in one context.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) id: usize,
    pub(crate) name: &'static str,
    pub(crate) value: Value,
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
            Ok(i) => Some(core::mem::replace(&mut entries[i].value, value)),
            Err(i) => {
                entries.insert(i, Entry { id, name, value });
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
