//! Span identity: [`TraceId`] and [`SpanId`], W3C Trace Context's 16- and 8-byte ids.
//!
//! Nothing random is drawn on the hot path. A call's span id is a bijection of its
//! process-unique [`call_id`](super::Event::call_id) keyed by a per-process random seed, so it is
//! unique within the process, unpredictable across processes, and computed only when someone
//! asks for it (an exporter, [`TraceParent::current`](super::TraceParent::current)). A root
//! call's trace id is derived the same way from the root's call id. The bijection is
//! invertible, which lets a remote parent's span id stand in the current-call slot as a call id.

use core::fmt;
use core::num::{NonZeroU64, NonZeroU128};
use std::sync::OnceLock;

/// A W3C trace id: 16 bytes, never all zero; `Display` is 32 lowercase hex digits.
///
/// ```
/// use keel_runtime::trace::TraceId;
/// let id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(id.to_bytes()[0], 0x4b);
/// assert!(TraceId::from_u128(0).is_none(), "all-zero is invalid");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// A W3C span (parent) id: 8 bytes, never all zero; `Display` is 16 lowercase hex digits.
///
/// ```
/// use keel_runtime::trace::SpanId;
/// let id = SpanId::from_u64(0x00f067aa0ba902b7).unwrap();
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// assert!(SpanId::from_u64(0).is_none(), "all-zero is invalid");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// The id whose big-endian value is `value`; `None` for zero.
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// The id's value (big-endian reading of its bytes).
    ///
    /// ```
    /// # use keel_runtime::trace::TraceId;
    /// assert_eq!(TraceId::from_u128(7).unwrap().to_u128(), 7);
    /// ```
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The 16 bytes as they go on the wire (OTLP, W3C).
    ///
    /// ```
    /// # use keel_runtime::trace::TraceId;
    /// assert_eq!(TraceId::from_u128(1).unwrap().to_bytes()[15], 1);
    /// ```
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
}

impl SpanId {
    /// The id whose big-endian value is `value`; `None` for zero.
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// The id's value (big-endian reading of its bytes).
    ///
    /// ```
    /// # use keel_runtime::trace::SpanId;
    /// assert_eq!(SpanId::from_u64(7).unwrap().to_u64(), 7);
    /// ```
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The 8 bytes as they go on the wire (OTLP, W3C).
    ///
    /// ```
    /// # use keel_runtime::trace::SpanId;
    /// assert_eq!(SpanId::from_u64(1).unwrap().to_bytes()[7], 1);
    /// ```
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// The span id of the call numbered `call_id` in this process.
    pub(crate) fn of_call(call_id: u64) -> Self {
        let value = mix(call_id ^ seeds()[0]);
        // `mix` is a bijection: exactly one call id maps to zero; give it another value.
        Self::from_u64(value).unwrap_or(Self(NonZeroU64::MIN))
    }

    /// The call id whose span id is `self` (the inverse of [`SpanId::of_call`]): how a remote
    /// parent stands in the current-call slot.
    pub(crate) fn to_call_id(self) -> u64 {
        unmix(self.0.get()) ^ seeds()[0]
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0.get())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.get())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// W3C's `sampled` trace flag.
pub(crate) const SAMPLED: u8 = 0x01;
/// W3C Trace Context Level 2's `random` trace flag: the trace id's right 7 bytes are random.
/// keel's own trace ids are (keyed bijections of the root call id under per-process random
/// keys), so its roots set it; a remote parent's is kept as received.
pub(crate) const RANDOM: u8 = 0x02;
/// The trace flags keel understands and passes on; others are zeroed, as W3C asks.
pub(crate) const KNOWN_FLAGS: u8 = SAMPLED | RANDOM;
/// keel's own marker (never sent): the trace id is derived from the root call id in `words[0]`.
const LOCAL_ROOT: u8 = 0x80;

// `TraceKey`'s layout is in the leaf module `crate::call` (it is part of the current-call
// record that `context` carries); what its words and flags mean is here.
pub(crate) use crate::call::TraceKey;

impl TraceKey {
    /// The trace started by the root call `call_id`, with the sampling decision in `sampled`.
    #[inline]
    pub(crate) const fn local_root(call_id: u64, sampled: bool) -> Self {
        Self {
            words: [call_id, 0],
            flags: LOCAL_ROOT | RANDOM | if sampled { SAMPLED } else { 0 },
        }
    }

    /// A trace continued from elsewhere, with its W3C flags.
    pub(crate) fn remote(trace_id: TraceId, flags: u8) -> Self {
        let value = trace_id.to_u128();
        Self {
            words: [(value >> 64) as u64, value as u64],
            flags: flags & !LOCAL_ROOT,
        }
    }

    /// The trace id.
    pub(crate) fn trace_id(self) -> TraceId {
        if self.flags & LOCAL_ROOT != 0 {
            root_trace_id(self.words[0])
        } else {
            let value = (u128::from(self.words[0]) << 64) | u128::from(self.words[1]);
            TraceId::from_u128(value).unwrap_or(TraceId(NonZeroU128::MIN))
        }
    }

    /// The W3C trace flags (keel's own marker removed).
    #[inline]
    pub(crate) fn flags(self) -> u8 {
        self.flags & !LOCAL_ROOT
    }

    /// The key as two words and its flags byte (for a compact copy), undone by
    /// [`TraceKey::from_parts`].
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    #[inline]
    pub(crate) fn to_parts(self) -> ([u64; 2], u8) {
        (self.words, self.flags)
    }

    /// The key [`TraceKey::to_parts`] took apart.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    #[inline]
    pub(crate) fn from_parts(words: [u64; 2], flags: u8) -> Self {
        Self { words, flags }
    }

    /// Whether the trace is sampled (recorded for export).
    #[inline]
    pub(crate) fn is_sampled(self) -> bool {
        self.flags & SAMPLED != 0
    }
}

/// The trace id started by the root call `call_id`: two keyed bijections of it, so distinct
/// roots of one process never share a trace id, and other processes' ids are unpredictable.
pub(crate) fn root_trace_id(call_id: u64) -> TraceId {
    let [_, high, low] = *seeds();
    let value = (u128::from(mix(call_id ^ high)) << 64) | u128::from(mix(call_id ^ low));
    TraceId::from_u128(value).unwrap_or(TraceId(NonZeroU128::MIN))
}

/// Three per-process random words (from the standard library's randomly keyed hasher).
fn seeds() -> &'static [u64; 3] {
    static SEEDS: OnceLock<[u64; 3]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let word = |i: u64| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(i);
            hasher.write_u32(std::process::id());
            hasher.finish()
        };
        [word(0), word(1), word(2)]
    })
}

const M1: u64 = 0xbf58_476d_1ce4_e5b9;
const M2: u64 = 0x94d0_49bb_1331_11eb;

/// SplitMix64's finaliser: a bijection on `u64` that spreads every input bit.
#[inline]
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(M1);
    z = (z ^ (z >> 27)).wrapping_mul(M2);
    z ^ (z >> 31)
}

/// The inverse of [`mix`].
const fn unmix(mut z: u64) -> u64 {
    z = unshift(z, 31).wrapping_mul(inverse(M2));
    z = unshift(z, 27).wrapping_mul(inverse(M1));
    unshift(z, 30)
}

/// The inverse of `z ^ (z >> shift)`.
const fn unshift(z: u64, shift: u32) -> u64 {
    let mut x = z;
    let mut i = 0;
    while i < 64 / shift + 1 {
        x = z ^ (x >> shift);
        i += 1;
    }
    x
}

/// The multiplicative inverse of an odd `a` modulo 2^64 (Newton's iteration).
const fn inverse(a: u64) -> u64 {
    let mut x = a;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_round_trip_through_call_ids() {
        for call_id in [0, 1, 2, 1 << 40, (7 << 40) + 12345, u64::MAX] {
            assert_eq!(unmix(mix(call_id)), call_id);
            let span = SpanId::of_call(call_id);
            if span.to_u64() != 1 || mix(call_id ^ seeds()[0]) == 1 {
                assert_eq!(span.to_call_id(), call_id);
            }
        }
        assert_ne!(SpanId::of_call(1), SpanId::of_call(2));
    }

    #[test]
    fn root_trace_ids_differ_per_root_and_keys_keep_flags() {
        assert_ne!(root_trace_id(1), root_trace_id(2));
        let local = TraceKey::local_root(5, true);
        assert_eq!(local.trace_id(), root_trace_id(5));
        assert_eq!(
            local.flags(),
            SAMPLED | RANDOM,
            "keel's roots set W3C's random flag"
        );
        assert_eq!(TraceKey::local_root(5, false).flags(), RANDOM);
        let id = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap();
        let remote = TraceKey::remote(id, 0);
        assert_eq!(remote.trace_id(), id);
        assert!(!remote.is_sampled());
    }

    #[test]
    fn display_is_lowercase_hex_of_fixed_width() {
        assert_eq!(
            TraceId::from_u128(0xAB).unwrap().to_string(),
            "000000000000000000000000000000ab"
        );
        assert_eq!(
            SpanId::from_u64(0xAB).unwrap().to_string(),
            "00000000000000ab"
        );
    }
}
