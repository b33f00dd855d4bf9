//! The one error type of this crate: a kind to match on and a message that says what and where.

use std::fmt;

/// What went wrong while composing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The runtime module is missing or does not keep the layout contract (exports, memory).
    Runtime,
    /// The filesystem, configuration and heap do not fit in 32-bit linear memory.
    TooLarge,
    /// The image's entrypoint does not resolve to a program oci2wasm can run.
    Entrypoint,
    /// The composed module failed validation or componentization (a bug here or in the runtime).
    Encode,
    /// Reading or writing bytes failed.
    Io,
}

/// A compose error: [`ErrorKind`] plus a human-readable message.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Error {
        Error::new(ErrorKind::Runtime, format!("malformed runtime module: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
