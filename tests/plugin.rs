//! `#[keel::registry]` / `#[keel::plugin]`: registration, lookup, errors, construction with
//! arguments, audit, and plugins from other crates of the dependency graph.

#![deny(warnings, clippy::all)]

use keel::plugin::{PluginError, Registry, registry};
use keel_plugin_crate::Greeter;
use std::sync::atomic::{AtomicUsize, Ordering};

// The remedy for the linker caveat: this crate is never named otherwise, so without this line
// its plugins would be absent (tests/plugin_unlinked.rs shows that).
use keel_plugin_crate_extra as _;

// ---------------------------------------------------------------------------------------------
// A registry with two plugins, as in the issue.

/// Formats a series of numbers.
#[keel::registry]
pub trait Exporter: Send + Sync {
    fn export(&self, data: &[i64]) -> String;
}

/// Comma-separated values.
#[keel::plugin(Exporter, name = "csv", aliases = ["comma"])]
#[derive(Default)]
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn export(&self, data: &[i64]) -> String {
        data.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A JSON array.
///
/// Numbers only, no spaces.
#[keel::plugin(Exporter)]
#[derive(Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, data: &[i64]) -> String {
        format!("[{}]", CsvExporter.export(data))
    }
}

#[test]
fn create_resolves_names_and_aliases() {
    let exporters = registry::<dyn Exporter>();
    assert_eq!(exporters.create("csv").unwrap().export(&[1, 2, 3]), "1,2,3");
    assert_eq!(exporters.create("comma").unwrap().export(&[4, 5]), "4,5");
    assert_eq!(
        exporters.create("json_exporter").unwrap().export(&[1, 2]),
        "[1,2]"
    );
    assert!(exporters.check().is_ok());
}

#[test]
fn names_are_sorted_and_default_to_the_type_name_in_snake_case() {
    let exporters = registry::<dyn Exporter>();
    assert_eq!(exporters.names(), ["csv", "json_exporter"]);
    assert_eq!(exporters.len(), 2);
    assert!(!exporters.is_empty());
    let names: Vec<_> = exporters.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["csv", "json_exporter"]);
}

#[test]
fn info_has_aliases_type_path_location_and_description() {
    let exporters = registry::<dyn Exporter>();
    let csv = exporters.get("comma").expect("alias resolves");
    assert_eq!(csv.name(), "csv");
    assert_eq!(csv.aliases(), ["comma"]);
    assert_eq!(csv.type_path(), "plugin::CsvExporter");
    assert_eq!(csv.file(), "tests/plugin.rs");
    assert_eq!(csv.line(), 26, "the line of `pub struct CsvExporter`");
    assert_eq!(csv.description(), Some("Comma-separated values."));
    assert_eq!(csv.to_string(), "plugin::CsvExporter (tests/plugin.rs:26)");
    let json = exporters.get("json_exporter").unwrap();
    assert_eq!(json.aliases(), [] as [&str; 0]);
    assert_eq!(
        json.description(),
        Some("A JSON array.\n\nNumbers only, no spaces.")
    );
    assert!(exporters.get("xml").is_none());
}

#[test]
fn unknown_names_list_what_exists_and_suggest_the_closest() {
    let exporters = registry::<dyn Exporter>();
    let err = exporters
        .create("cvs")
        .err()
        .expect("cvs is not registered");
    assert_eq!(
        err.to_string(),
        r#"unknown Exporter plugin "cvs"; did you mean "csv"? available: csv, json_exporter"#
    );
    // `create` boxes its error (see `Registry::create`): match on the `PluginError` inside.
    match *err {
        PluginError::Unknown {
            registry,
            name,
            suggestion,
            available,
        } => {
            assert_eq!(registry, "Exporter");
            assert_eq!(name, "cvs");
            assert_eq!(suggestion, Some("csv"));
            assert_eq!(available, ["csv", "json_exporter"]);
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
    // An alias can be the suggestion; a distant name gets none.
    let err = exporters.create("coma").err().unwrap();
    assert!(matches!(
        *err,
        PluginError::Unknown {
            suggestion: Some("comma"),
            ..
        }
    ));
    assert_eq!(
        exporters.create("parquet").err().unwrap().to_string(),
        r#"unknown Exporter plugin "parquet"; available: csv, json_exporter"#
    );
}

#[test]
fn the_registry_is_built_once_and_shared_across_threads() {
    let here = registry::<dyn Exporter>() as *const Registry<dyn Exporter> as usize;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let registry = registry::<dyn Exporter>();
                assert_eq!(registry.create("csv").unwrap().export(&[7]), "7");
                registry as *const Registry<dyn Exporter> as usize
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), here);
    }
    // A fresh build finds the same plugins.
    let fresh = Registry::<dyn Exporter>::collect();
    assert_eq!(fresh.names(), registry::<dyn Exporter>().names());
}

// ---------------------------------------------------------------------------------------------
// Enums, `new = path`, and a registry that nothing registers for.

#[keel::registry]
trait Level {
    fn value(&self) -> u8;
}

/// A level chosen by its constructor.
#[keel::plugin(Level, name = "high", new = Priority::high)]
enum Priority {
    Low,
    High,
}

impl Priority {
    fn high() -> Self {
        Priority::High
    }
}

impl Level for Priority {
    fn value(&self) -> u8 {
        match self {
            Priority::Low => 1,
            Priority::High => 9,
        }
    }
}

#[keel::registry]
trait Unused {}

mod nested {
    /// Registered through a relative path to the trait.
    #[keel::plugin(super::Level, name = "low", new = Self::make)]
    pub struct LowLevel;

    impl LowLevel {
        fn make() -> Self {
            LowLevel
        }
    }

    impl super::Level for LowLevel {
        fn value(&self) -> u8 {
            0
        }
    }
}

#[test]
fn enums_register_and_new_overrides_default() {
    let levels = registry::<dyn Level>();
    assert_eq!(levels.create("high").unwrap().value(), 9);
    assert_eq!(levels.create("low").unwrap().value(), 0);
    assert_eq!(
        levels.get("low").unwrap().type_path(),
        "plugin::nested::LowLevel"
    );
    assert_eq!(Priority::Low.value(), 1);
    assert_eq!(
        levels.get("high").unwrap().description(),
        Some("A level chosen by its constructor.")
    );
}

#[test]
fn an_empty_registry_says_so() {
    let unused = registry::<dyn Unused>();
    assert!(unused.is_empty());
    assert!(unused.check().is_ok());
    assert_eq!(
        unused.create("any").err().unwrap().to_string(),
        r#"unknown Unused plugin "any"; available: (none)"#
    );
}

// ---------------------------------------------------------------------------------------------
// `args = Type`: construction from arguments, by `From` or by `new = path`.

pub struct Settings {
    pub capacity: usize,
}

#[keel::registry(args = Settings)]
pub trait Store {
    fn capacity(&self) -> usize;
}

#[keel::plugin(Store, name = "memory")]
struct MemoryStore {
    capacity: usize,
}

impl From<Settings> for MemoryStore {
    fn from(settings: Settings) -> Self {
        MemoryStore {
            capacity: settings.capacity,
        }
    }
}

impl Store for MemoryStore {
    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[keel::plugin(Store, name = "doubled", new = DoubledStore::with)]
struct DoubledStore(usize);

impl DoubledStore {
    fn with(settings: Settings) -> Self {
        DoubledStore(settings.capacity * 2)
    }
}

impl Store for DoubledStore {
    fn capacity(&self) -> usize {
        self.0
    }
}

#[test]
fn create_with_passes_the_arguments_to_from_or_new() {
    let stores = registry::<dyn Store>();
    let memory = stores
        .create_with("memory", Settings { capacity: 3 })
        .unwrap();
    assert_eq!(memory.capacity(), 3);
    let doubled = stores
        .create_with("doubled", Settings { capacity: 3 })
        .unwrap();
    assert_eq!(doubled.capacity(), 6);
    assert!(matches!(
        stores
            .create_with("disk", Settings { capacity: 1 })
            .map_err(|err| *err),
        Err(PluginError::Unknown { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Audit: `plugin.create` is raised before constructing; a denial constructs nothing.

static VAULT_BUILT: AtomicUsize = AtomicUsize::new(0);

#[keel::registry]
trait Vault {
    fn open(&self) -> &'static str;
}

#[keel::plugin(Vault, name = "public", new = counted)]
struct PublicVault;

#[keel::plugin(Vault, name = "secret", aliases = ["hidden"], new = counted_secret)]
struct SecretVault;

fn counted() -> PublicVault {
    VAULT_BUILT.fetch_add(1, Ordering::SeqCst);
    PublicVault
}

fn counted_secret() -> SecretVault {
    VAULT_BUILT.fetch_add(1, Ordering::SeqCst);
    SecretVault
}

impl Vault for PublicVault {
    fn open(&self) -> &'static str {
        "public"
    }
}

impl Vault for SecretVault {
    fn open(&self) -> &'static str {
        "secret"
    }
}

#[test]
fn create_raises_plugin_create_and_a_denial_constructs_nothing() {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    keel::audit::add_hook(|event| {
        if event.name() != "plugin.create" {
            return Ok(());
        }
        let registry = format!("{:?}", event.arg("registry").unwrap());
        // Hooks are process-wide: react only to this test's registry.
        if registry != r#""Vault""# {
            return Ok(());
        }
        let name = format!("{:?}", event.arg("name").unwrap());
        SEEN.lock().unwrap().push(name.clone());
        if name == r#""secret""# {
            return Err(keel::audit::Denied::new("vaults stay shut"));
        }
        Ok(())
    })
    .unwrap();

    let vaults = registry::<dyn Vault>();
    let before = VAULT_BUILT.load(Ordering::SeqCst);
    assert_eq!(vaults.create("public").unwrap().open(), "public");
    assert_eq!(VAULT_BUILT.load(Ordering::SeqCst), before + 1);

    // Through the alias: the event carries the registered name, and the hook refuses it.
    let err = vaults.create("hidden").err().expect("the hook denies it");
    assert_eq!(
        VAULT_BUILT.load(Ordering::SeqCst),
        before + 1,
        "nothing built"
    );
    assert_eq!(
        err.to_string(),
        r#"creating Vault plugin "secret" was refused: audit hook denied `plugin.create`: vaults stay shut"#
    );
    match &*err {
        PluginError::Denied {
            registry,
            name,
            source,
        } => {
            assert_eq!((*registry, *name), ("Vault", "secret"));
            assert_eq!(source.reason(), "vaults stay shut");
            assert_eq!(
                std::error::Error::source(&err).unwrap().to_string(),
                source.to_string()
            );
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    assert_eq!(*SEEN.lock().unwrap(), [r#""public""#, r#""secret""#]);

    // An unknown name raises no event: there is nothing to construct.
    assert!(vaults.create("missing").is_err());
    assert_eq!(SEEN.lock().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Plugins from other crates, duplicates across crates, and the linker remedy.

/// Whispers. Claims `loud` as an alias, which keel_plugin_crate::Shout has as its name.
#[keel::plugin(Greeter, name = "quiet", aliases = ["loud"])]
#[derive(Default)]
struct Whisper;

impl Greeter for Whisper {
    fn greet(&self, who: &str) -> String {
        format!("psst, {who}")
    }
}

#[keel::plugin(Greeter, name = "hey")]
#[derive(Default)]
struct HeyOne;

#[keel::plugin(Greeter, name = "hey")]
#[derive(Default)]
struct HeyTwo;

impl Greeter for HeyOne {
    fn greet(&self, who: &str) -> String {
        format!("hey {who}")
    }
}

impl Greeter for HeyTwo {
    fn greet(&self, who: &str) -> String {
        format!("hey hey {who}")
    }
}

#[test]
fn plugins_from_every_linked_crate_share_one_registry() {
    let greeters = registry::<dyn Greeter>();
    // Declared and registered in keel_plugin_crate (with `crate = kl`).
    assert_eq!(greeters.create("en").unwrap().greet("Ada"), "Hello, Ada!");
    assert_eq!(
        greeters.create("english").unwrap().greet("Ada"),
        "Hello, Ada!"
    );
    assert_eq!(
        greeters.get("en").unwrap().type_path(),
        "keel_plugin_crate::English"
    );
    // Registered here.
    assert_eq!(greeters.create("quiet").unwrap().greet("Ada"), "psst, Ada");
    // Registered in keel_plugin_crate_extra, linked by `use keel_plugin_crate_extra as _;`.
    assert_eq!(
        greeters.create("fr").unwrap().greet("Ada"),
        "Bonjour, Ada !"
    );
    assert_eq!(
        greeters.get("french").unwrap().type_path(),
        "keel_plugin_crate_extra::French"
    );
    assert_eq!(greeters.names(), ["en", "fr", "hey", "loud", "quiet"]);
    assert_eq!(greeters.len(), 6);
}

#[test]
fn a_duplicate_name_is_never_resolved_and_names_both_plugins() {
    let greeters = registry::<dyn Greeter>();
    let err = greeters.create("hey").err().expect("two plugins claim hey");
    let PluginError::Duplicate { registry, conflict } = &*err else {
        panic!("expected Duplicate, got {err:?}");
    };
    assert_eq!(*registry, "Greeter");
    assert_eq!(conflict.name(), "hey");
    let types: Vec<_> = conflict.plugins().iter().map(|p| p.type_path()).collect();
    assert_eq!(types, ["plugin::HeyOne", "plugin::HeyTwo"]);
    let line_one = conflict.plugins()[0].line();
    let line_two = conflict.plugins()[1].line();
    assert_eq!(
        err.to_string(),
        format!(
            r#"ambiguous Greeter plugin name: "hey" is claimed by plugin::HeyOne (tests/plugin.rs:{line_one}) and plugin::HeyTwo (tests/plugin.rs:{line_two})"#
        )
    );
    assert!(
        greeters.get("hey").is_none(),
        "get does not pick one either"
    );
}

#[test]
fn a_name_clashing_with_an_alias_in_another_crate_is_a_duplicate_too() {
    let greeters = registry::<dyn Greeter>();
    let err = greeters
        .create("loud")
        .err()
        .expect("two plugins claim loud");
    let message = err.to_string();
    assert!(
        message.starts_with(
            r#"ambiguous Greeter plugin name: "loud" is claimed by keel_plugin_crate::Shout ("#
        ),
        "{message}"
    );
    assert!(message.contains("src/lib.rs:"), "{message}");
    assert!(
        message.contains(" and plugin::Whisper (tests/plugin.rs:"),
        "{message}"
    );
    // Whisper's own name still works.
    assert_eq!(greeters.create("quiet").unwrap().greet("Bo"), "psst, Bo");
}

#[test]
fn check_reports_every_duplicate() {
    let err = registry::<dyn Greeter>().check().unwrap_err();
    let PluginError::Duplicates {
        registry,
        conflicts,
    } = &err
    else {
        panic!("expected Duplicates, got {err:?}");
    };
    assert_eq!(*registry, "Greeter");
    let names: Vec<_> = conflicts.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["hey", "loud"]);
    let message = err.to_string();
    assert!(
        message.starts_with(
            "Greeter plugin registry has 2 duplicate name(s): \"hey\" is claimed by plugin::HeyOne"
        ),
        "{message}"
    );
    assert!(
        message.contains("; \"loud\" is claimed by keel_plugin_crate::Shout"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Names that the fast table leaves to the hash map (longer than 15 bytes, or claimed twice)
// next to names it holds, with an audit hook installed: the same answers, errors and events.

#[keel::registry]
pub trait Codec {
    fn id(&self) -> u8;
}

#[keel::plugin(
    Codec,
    name = "base64_url_safe_no_padding",
    aliases = ["b64", "base64_urlsafe1", "base64_urlsafe16"]
)]
#[derive(Default)]
pub struct Base64;

#[keel::plugin(Codec, name = "hex", aliases = ["b16"])]
#[derive(Default)]
pub struct Hex;

#[keel::plugin(Codec, name = "base16", aliases = ["b16"])]
#[derive(Default)]
pub struct Base16;

#[keel::plugin(Codec, name = "rot13")]
#[derive(Default)]
pub struct Rot13;

impl Codec for Base64 {
    fn id(&self) -> u8 {
        64
    }
}
impl Codec for Hex {
    fn id(&self) -> u8 {
        16
    }
}
impl Codec for Base16 {
    fn id(&self) -> u8 {
        17
    }
}
impl Codec for Rot13 {
    fn id(&self) -> u8 {
        13
    }
}

#[test]
fn names_left_to_the_hash_map_answer_the_same() {
    keel::audit::add_hook(|event| {
        let is = |arg: &str, value: &str| {
            event
                .arg(arg)
                .is_some_and(|v| format!("{v:?}") == format!("{value:?}"))
        };
        // Hooks are process-wide: react only to this test's registry.
        if event.name() == "plugin.create" && is("registry", "Codec") && is("name", "rot13") {
            return Err(keel::audit::Denied::new("no toy ciphers"));
        }
        Ok(())
    })
    .unwrap();

    let codecs = registry::<dyn Codec>();
    assert_eq!(
        codecs.create("base64_url_safe_no_padding").unwrap().id(),
        64
    );
    assert_eq!(codecs.create("b64").unwrap().id(), 64);
    // The longest names the fast table holds (15 bytes) and the shortest it leaves (16).
    assert_eq!(codecs.create("base64_urlsafe1").unwrap().id(), 64);
    assert_eq!(codecs.create("base64_urlsafe16").unwrap().id(), 64);
    for near in [
        "base64_urlsafe2",
        "base64_urlsafe",
        "base64_urlsafe17",
        "base64_urlsafe1 ",
    ] {
        let err = codecs.create(near).err().expect("only the exact name");
        assert!(
            matches!(*err, PluginError::Unknown { .. }),
            "{near:?}: {err}"
        );
    }
    assert_eq!(codecs.create("hex").unwrap().id(), 16);
    assert_eq!(codecs.create("base16").unwrap().id(), 17);
    assert_eq!(
        codecs.get("b64").map(|p| p.name()),
        Some("base64_url_safe_no_padding")
    );

    let err = codecs.create("b16").err().expect("two plugins claim b16");
    assert!(matches!(*err, PluginError::Duplicate { .. }), "{err}");
    assert!(codecs.get("b16").is_none());

    let err = codecs.create("hexx").err().expect("hexx is not registered");
    assert_eq!(
        err.to_string(),
        r#"unknown Codec plugin "hexx"; did you mean "hex"? available: base16, base64_url_safe_no_padding, hex, rot13"#
    );

    // The empty name has no fingerprint: it goes to the hash map, which does not know it.
    let err = codecs.create("").err().expect("no plugin is named \"\"");
    assert!(matches!(*err, PluginError::Unknown { .. }), "{err}");

    let err = codecs.create("rot13").err().expect("the hook denies it");
    assert!(
        matches!(*err, PluginError::Denied { name: "rot13", .. }),
        "{err}"
    );
}
