//! The one error type of this crate: a kind, a message naming what it is about (a digest, a path in
//! a layer, a file on the host), and an optional source.

use std::fmt;

/// What went wrong, coarsely, so callers and tests can branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The image reference does not parse (`docker://`, `oci:`, `docker-archive:`, `dir:`).
    Reference,
    /// Reading or writing a local file or directory failed.
    Io,
    /// The registry could not be reached or answered with an error.
    Registry,
    /// The tag, digest or image does not exist.
    NotFound,
    /// Credentials were refused or missing.
    Auth,
    /// A manifest, index or config is malformed or of an unsupported media type.
    Manifest,
    /// No manifest for the requested platform.
    Platform,
    /// A blob's bytes do not hash to its digest.
    Digest,
    /// A layer could not be decompressed or its tar stream is corrupt.
    Layer,
    /// A layer entry would leave the image root or otherwise cannot be applied safely.
    UnsafeEntry,
}

/// An error from fetching or applying an image.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message that names what it is about.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error; its text is shown after the message.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// An [`ErrorKind::Io`] error about `path`.
    pub fn io(what: impl fmt::Display, path: &std::path::Path, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what} {}", path.display())).with_source(err)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Prefixes the message with context, e.g. the layer digest an entry error happened in.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
