//! The endpoint's addresses, looked up once a minute rather than for every request.
//!
//! ureq resolves the host of every request, pooled connection or not, and with a timeout set
//! (the export timeout) it does so on a thread it spawns for the lookup: a thread per batch,
//! about a third of the export thread's work per span on a local receiver. The export thread
//! sends to one endpoint, so it keeps the answer.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a lookup is used: a backend moving to other addresses is followed within this.
const KEEP: Duration = Duration::from_secs(60);

/// ureq's resolver, its answer kept for [`KEEP`] per scheme and authority (the last one asked
/// about: the sink has one endpoint).
#[derive(Debug, Default)]
pub(super) struct CachingResolver {
    last: Mutex<Option<Lookup>>,
}

#[derive(Debug)]
struct Lookup {
    key: String,
    addresses: ResolvedSocketAddrs,
    at: Instant,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |authority| authority.as_str())
        );
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lookup) = last.as_ref()
            && lookup.key == key
            && lookup.at.elapsed() < KEEP
        {
            return Ok(lookup.addresses.clone());
        }
        let addresses = DefaultResolver::default().resolve(uri, config, timeout)?;
        *last = Some(Lookup {
            key,
            addresses: addresses.clone(),
            at: Instant::now(),
        });
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_is_kept_for_the_same_authority_only() {
        let resolver = CachingResolver::default();
        let config = Config::default();
        let uri: Uri = "http://127.0.0.1:4318/v1/traces".parse().unwrap();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::NotHappening,
            reason: ureq::Timeout::Global,
            per_read: None,
            per_write: None,
        };
        let first = resolver.resolve(&uri, &config, timeout).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0], "127.0.0.1:4318".parse().unwrap());
        let kept = resolver.last.lock().unwrap().as_ref().unwrap().at;
        let again = resolver.resolve(&uri, &config, timeout).unwrap();
        assert_eq!(&again[..], &first[..]);
        assert_eq!(
            resolver.last.lock().unwrap().as_ref().unwrap().at,
            kept,
            "not looked up again"
        );
        let other: Uri = "http://127.0.0.1:4319/v1/traces".parse().unwrap();
        assert_eq!(
            resolver.resolve(&other, &config, timeout).unwrap()[0],
            "127.0.0.1:4319".parse().unwrap()
        );
    }
}
