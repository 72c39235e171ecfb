//! # keel
//!
//! The Python patterns that production engineers reach for, as zero-cost Rust: derive and
//! attribute macros plus a small runtime. See the README for each pattern next to its Python
//! original.
//!
//! This crate only re-exports: the runtime ([`keel_runtime`]) at the crate root, the macros
//! (feature `macros`, on by default) beside it.
//!
//! ## Features
//!
//! By default keel builds the macros and the modules with no heavy dependency (`audit`, bounds,
//! `cache`, `context`, `finalize`, layouts, plugins, `tx`'s engine and `ExitStack`). Everything
//! else is a feature named after it; `full` is all of them.
//!
//! | feature | adds |
//! |---|---|
//! | `macros` (default) | the derive and attribute macros |
//! | `trace` | `keel::trace`; `#[keel::instrument]` needs it |
//! | `buffer` | `keel::buffer` (bytes, zerocopy) |
//! | `mmap` | `keel::mmap` (memmap2) |
//! | `shm` | `keel::shm` (rustix, memmap2) |
//! | `oob` | `keel::oob` (serde, postcard) |
//! | `pickle` | `keel::pickle`: pickle protocol 5 CPython and numpy read (serde) |
//! | `serde` | `#[bounded(deserialize)]`, serde impls of bounded newtypes |
//! | `sqlite`, `postgres` | `keel::tx` over rusqlite (bundled) and `postgres` |
//! | `tokio-postgres`, `sqlx` | async `keel::tx`; `#[keel::transaction]` on `async fn` needs one |
//! | `tokio`, `rayon` | `keel::context::tokio`, `keel::context::rayon` |
//! | `tracing` | the bridge from `keel::trace` to `tracing` |
//! | `otlp` | `keel::trace::otlp`, OpenTelemetry export (OTLP/HTTP, HTTPS, gzip, `OTEL_*` variables) |
//! | `http` | `keel::trace::http`, `traceparent`/`tracestate` from and into `http::HeaderMap` |
//! | `arrow` | `keel::arrow`: `#[derive(Compact)]` containers as Arrow record batches, IPC files |
//! | `parquet` | Parquet files of `Compact` containers |
//! | `full` | everything above |
//!
//! A macro whose runtime part is behind a feature that is off says which feature to enable.
//!
//! ```
//! let err = keel::Bounds::inclusive(1u32, 65535)
//!     .check(99999, "NetworkConfig", Some("port"))
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(inline)]
pub use keel_runtime::*;

#[cfg(feature = "macros")]
#[doc(inline)]
pub use keel_macros::*;

/// Paths that generated code names (`::keel::__private::…`). Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use keel_runtime::__private::*;
}
