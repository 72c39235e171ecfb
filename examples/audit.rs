//! Python's `sys.addaudithook` (PEP 578) in keel: a hook that logs every audited operation and
//! vetoes deleting protected files, which then stay on disk.
//!
//! ```python
//! def hook(event, args):
//!     if event == "os.remove" and "protected" in args[0]:
//!         raise PermissionError("protected file")
//! sys.addaudithook(hook)
//! os.remove("protected.txt")   # PermissionError, file untouched
//! ```
//!
//! `cargo run --release --example audit`

#![deny(warnings, clippy::all)]

use keel::audit::{self, Denied};
use std::hint::black_box;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The application's own audited operation: emit first, act only if no hook objects.
fn remove_file(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    audit::emit("app.remove_file", &[("path", &path)])?;
    std::fs::remove_file(path)?;
    Ok(())
}

fn ns_per_call<R>(n: u32, mut f: impl FnMut() -> R) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quiet = ns_per_call(20_000_000, || audit::emit(black_box("app.read"), &[]));
    println!("emit with no hook installed: {quiet:.2} ns (one atomic load)");

    audit::add_hook(|event| {
        if event.name() != "app.read" {
            LOG.lock().unwrap().push(event.to_string());
        }
        Ok(())
    })?;
    audit::add_hook(|event| {
        let protected = event
            .arg("path")
            .is_some_and(|p| format!("{p:?}").contains("protected"));
        if event.name() == "app.remove_file" && protected {
            return Err(Denied::new("protected file"));
        }
        Ok(())
    })?;

    let dir = std::env::temp_dir().join(format!("keel-audit-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scratch = dir.join("scratch.txt");
    let protected = dir.join("protected.txt");
    std::fs::write(&scratch, "temporary")?;
    std::fs::write(&protected, "keep me")?;

    remove_file(&scratch)?;
    println!(
        "remove {}: done, exists now: {}",
        scratch.display(),
        scratch.exists()
    );
    match remove_file(&protected) {
        Ok(()) => println!("remove {}: allowed (unexpected)", protected.display()),
        Err(e) => println!(
            "remove {}: {e}; exists now: {}",
            protected.display(),
            protected.exists()
        ),
    }
    assert!(protected.exists(), "a denied operation does nothing");

    let user = "ada";
    audit::emit("app.login", &[("user", &user), ("mfa", &true)])?;
    println!("events the logging hook saw:");
    for line in LOG.lock().unwrap().iter() {
        println!("  {line}");
    }

    let hooked = ns_per_call(1_000_000, || audit::emit(black_box("app.read"), &[]));
    println!("emit through two hooks: {hooked:.1} ns");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
