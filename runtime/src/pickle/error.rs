//! [`PickleError`]: every way writing or reading a pickle can fail.

use core::fmt::Display;

/// Why [`to_frames`](super::to_frames) or [`from_frames`](super::from_frames) failed. Every
/// malformed, truncated or hostile input maps to one of these; none panics.
///
/// ```
/// use keel_runtime::pickle::{from_frames, PickleError};
/// // `os.system` called with "echo pwned": refused before anything runs.
/// let evil = b"\x80\x05\x8c\x02os\x8c\x06system\x93\x8c\x0aecho pwned\x85R.";
/// let err = from_frames::<()>(evil, &[]).unwrap_err();
/// assert!(matches!(err, PickleError::Forbidden { .. }));
/// assert!(err.to_string().contains("os.system"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The value's `Serialize` impl failed, or the value has no pickle form.
    #[error("cannot pickle the value: {0}")]
    Encode(String),
    /// The stream ends in the middle of an opcode or before `STOP`.
    #[error("pickle truncated at byte {offset}: {opcode} needs {needed} more bytes, {left} left")]
    Truncated {
        /// Where the opcode that ran short starts.
        offset: usize,
        /// Its name (`"STOP"` when the stream ends between opcodes).
        opcode: &'static str,
        /// How many bytes it needed.
        needed: u64,
        /// How many remained.
        left: usize,
    },
    /// A byte that is no opcode of protocols 0–5.
    #[error("byte {offset} is 0x{byte:02x}, not a pickle opcode")]
    UnknownOpcode {
        /// Where.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A `PROTO` above 5.
    #[error("pickle protocol {found} at byte {offset}; keel reads protocols 0 to 5")]
    Protocol {
        /// Where.
        offset: usize,
        /// The protocol asked for.
        found: u8,
    },
    /// A global (class or function) keel does not know: it never imports or calls anything
    /// beyond the built-in containers' and numpy's array reconstructors.
    #[error(
        "refusing to load `{module}.{name}` ({opcode} at byte {offset}): keel::pickle never \
         imports or calls anything; it only knows the built-in containers and numpy arrays"
    )]
    Forbidden {
        /// The module named in the stream.
        module: String,
        /// The attribute named in the stream.
        name: String,
        /// `GLOBAL`, `STACK_GLOBAL` or `INST`.
        opcode: &'static str,
        /// Where.
        offset: usize,
    },
    /// An opcode keel understands but refuses in any stream (persistent ids, the extension
    /// registry, object construction through `NEWOBJ`/`OBJ`, protocol-0 quoted strings).
    #[error("{opcode} at byte {offset} is not supported: {why}")]
    Unsupported {
        /// The opcode's name.
        opcode: &'static str,
        /// Where.
        offset: usize,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// The opcodes are well formed but do not make a value (a stack underflow, a missing mark,
    /// `APPENDS` on a dict, a memo slot never filled, a `REDUCE` with the wrong arguments...).
    #[error("corrupt pickle at byte {offset} ({opcode}): {message}")]
    Corrupt {
        /// The opcode's name.
        opcode: &'static str,
        /// Where.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// `NEXT_BUFFER` asked for more out-of-band buffers than were given.
    #[error(
        "NEXT_BUFFER at byte {offset} asks for out-of-band buffer {index}, but only {count} were given"
    )]
    MissingBuffer {
        /// Where.
        offset: usize,
        /// The 0-based index of the buffer asked for.
        index: usize,
        /// How many were given.
        count: usize,
    },
    /// Bytes follow `STOP`.
    #[error("{count} bytes after STOP at byte {offset}")]
    TrailingBytes {
        /// Where `STOP` is.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH), or more work than the input's size
    /// allows (shared references that expand exponentially).
    #[error("pickle too deep or too expanding: {0}")]
    Limit(String),
    /// A numpy array or dtype keel cannot read as asked (unsupported dtype, wrong element
    /// type, shape that does not match the data...).
    #[error("numpy array: {0}")]
    Array(String),
    /// The value read does not fit the Rust type asked for (serde's message).
    #[error("cannot read the pickled value as the requested type: {0}")]
    Type(String),
    /// The shared-memory transport failed.
    #[cfg(all(unix, feature = "shm"))]
    #[error("shared-memory pickle: {0}")]
    Shm(String),
}

impl serde::ser::Error for PickleError {
    fn custom<T: Display>(msg: T) -> Self {
        PickleError::Encode(msg.to_string())
    }
}

impl serde::ser::Error for Box<PickleError> {
    fn custom<T: Display>(msg: T) -> Self {
        Box::new(PickleError::Encode(msg.to_string()))
    }
}

impl serde::de::Error for PickleError {
    fn custom<T: Display>(msg: T) -> Self {
        PickleError::Type(msg.to_string())
    }
}

#[cfg(all(unix, feature = "shm"))]
impl From<crate::shm::ShmError> for PickleError {
    fn from(e: crate::shm::ShmError) -> Self {
        PickleError::Shm(e.to_string())
    }
}
