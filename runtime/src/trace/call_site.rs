//! `CallSite`: the `static` description of one traced function. Its layout is in the leaf module
//! `crate::call` (a running call's record points at its site, and `context` carries that record
//! without depending on `trace`); what a site does is here.

use super::state::{self, GENERATION};
pub use crate::call::CallSite;
use crate::call::CurrentCall;
use core::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl CallSite {
    /// A call site; `name` is the qualified name events report and filters match
    /// (`crate::module::Type::method`), `module_path`/`file`/`line` say where it is.
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        Self {
            name,
            module_path,
            file,
            line,
            typed_name: OnceLock::new(),
            id: AtomicU32::new(0),
            filter_verdict: AtomicU32::new(0),
        }
    }

    /// The qualified name: `crate::module::function` or `crate::module::Type::method`.
    pub fn name(&self) -> &'static str {
        self.typed_name.get().copied().unwrap_or(self.name)
    }

    /// The module the function is defined in (`module_path!()`).
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The source file (`file!()`).
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the function's name (`line!()`).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// A small dense number unique to this site in the process (for per-site tables).
    pub(crate) fn id(&self) -> u32 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// Inserts the type's name before the function's: `module::method` → `module::Type::method`.
    pub(crate) fn resolve_self_type(&self, type_name: fn() -> &'static str) {
        if self.typed_name.get().is_some() {
            return;
        }
        let ty = short_type_name(type_name());
        let function = self
            .name
            .strip_prefix(self.module_path)
            .and_then(|rest| rest.strip_prefix("::"))
            .unwrap_or(self.name);
        let typed = format!("{}::{ty}::{function}", self.module_path);
        let _ = self.typed_name.set(Box::leak(typed.into_boxed_str()));
    }

    /// Whether the filter lets this site through, given the global `state` word.
    #[inline]
    pub(crate) fn passes_filter(&self, state: u64) -> bool {
        // Generations are even and below 2^32.
        let generation = (state & GENERATION) as u32;
        let cached = self.filter_verdict.load(Ordering::Relaxed);
        if cached & !1 == generation {
            return cached & 1 == 1;
        }
        let verdict = state::filter_allows(self.name());
        self.filter_verdict
            .store(generation | u32::from(verdict), Ordering::Relaxed);
        verdict
    }
}

/// What `#[keel::instrument]` registers (with `inventory`) for each of its call sites, so that the
/// program's instrumented functions are known before any is called (`KEEL_TRACE` warns about a
/// directive that matches none of them). Not a public API.
#[doc(hidden)]
pub struct Registration {
    site: &'static CallSite,
    /// The site's type is read from `Self` on the first call (its static name lacks it).
    named_by_self: bool,
}

impl Registration {
    #[doc(hidden)]
    pub const fn new(site: &'static CallSite, named_by_self: bool) -> Self {
        Self {
            site,
            named_by_self,
        }
    }
}

inventory::collect!(Registration);

/// Every registered call site, with whether its type is read from `Self`.
pub(crate) fn registered() -> impl Iterator<Item = (&'static CallSite, bool)> {
    inventory::iter::<Registration>
        .into_iter()
        .map(|registration| (registration.site, registration.named_by_self))
}

/// `alloc::vec::Vec<myapp::Row>` → `Vec`.
fn short_type_name(full: &str) -> &str {
    let without_generics = full.split('<').next().unwrap_or(full);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("name", &self.name())
            .field("module_path", &self.module_path)
            .field("file", &self.file)
            .field("line", &self.line)
            .finish()
    }
}

impl fmt::Debug for CurrentCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentCall")
            .field("call_id", &self.call_id)
            .field("name", &self.site.name())
            .finish()
    }
}

impl fmt::Display for CallSite {
    /// `name (file:line)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.name(), self.file, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name("alloc::vec::Vec<my::Row>"), "Vec");
        assert_eq!(short_type_name("my::db::Repo"), "Repo");
        assert_eq!(short_type_name("u32"), "u32");
    }

    #[test]
    fn self_type_is_inserted_once() {
        static SITE: CallSite = CallSite::new("my::db::load", "my::db", "db.rs", 1);
        SITE.resolve_self_type(core::any::type_name::<Vec<u8>>);
        SITE.resolve_self_type(core::any::type_name::<String>);
        assert_eq!(SITE.name(), "my::db::Vec::load");
    }

    #[test]
    fn ids_are_distinct_and_stable() {
        static A: CallSite = CallSite::new("a", "a", "a.rs", 1);
        static B: CallSite = CallSite::new("b", "b", "b.rs", 1);
        assert_ne!(A.id(), B.id());
        assert_eq!(A.id(), A.id());
    }
}
