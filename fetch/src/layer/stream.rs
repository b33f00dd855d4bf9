//! Watching the layer's two byte streams — the blob as read and the tar stream as decompressed —
//! so a failure is blamed on the right party (the blob's reader, the decompressor, or the tar
//! format), and a stream that merely stops is recognised as truncated.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};

use super::Compression;
use crate::{Error, ErrorKind};

/// What a [`Watched`] reader has seen.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Status {
    /// Bytes read so far.
    pub bytes: u64,
    /// A read returned 0: the stream ended.
    pub ended: bool,
    /// A read failed (other than `Interrupted`).
    pub failed: bool,
}

/// A reader that records what happens to it in a [`Status`] cell owned by the caller, so the
/// status stays visible while the reader is buried inside a decoder or a tar archive.
pub(super) struct Watched<'s, R> {
    inner: R,
    status: &'s Cell<Status>,
}

impl<'s, R: Read> Watched<'s, R> {
    pub(super) fn new(inner: R, status: &'s Cell<Status>) -> Self {
        Watched { inner, status }
    }
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        let mut status = self.status.get();
        match &result {
            Ok(0) if !buf.is_empty() => status.ended = true,
            Ok(n) => status.bytes += *n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => status.failed = true,
        }
        self.status.set(status);
        result
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
pub(super) fn read_full(mut reader: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where in the tar stream an error happened, for its message.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place<'a> {
    /// Before the first entry.
    Start,
    /// While reading this entry.
    In(&'a str),
    /// After this entry, looking for the next header or the end.
    After(&'a str),
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Start => f.write_str("at the start of the layer"),
            Place::In(path) => write!(f, "in entry {path}"),
            Place::After(path) => write!(f, "after entry {path}"),
        }
    }
}

/// Turns I/O errors from the tar stream into this crate's errors.
#[derive(Debug)]
pub(super) struct Blame<'s> {
    pub blob: &'s Cell<Status>,
    pub tar: &'s Cell<Status>,
    /// What the caller said the blob is.
    pub declared: Compression,
    /// What its first bytes showed, and so how it is decoded.
    pub found: Compression,
}

impl Blame<'_> {
    /// An error for `err`, raised by a read of the tar stream at `place`:
    /// - the blob's reader failed: an error of this crate it carries (a verifying reader's digest
    ///   mismatch) keeps its kind, anything else is [`ErrorKind::Io`];
    /// - the decompressor failed: "truncated gzip stream" or "corrupt gzip stream";
    /// - otherwise the tar format is at fault: "truncated tar stream" if the stream had ended,
    ///   else "corrupt tar stream".
    pub(super) fn error(&self, err: io::Error, place: Place<'_>) -> Error {
        let at = place;
        if self.blob.get().failed {
            return match err.downcast::<Error>() {
                Ok(inner) => inner.context(format!("reading the layer {at}")),
                Err(err) => Error::new(ErrorKind::Io, format!("reading the layer failed {at}"))
                    .with_source(err),
            };
        }
        let found = self.found;
        if self.tar.get().failed && found != Compression::None {
            if err.kind() == io::ErrorKind::UnexpectedEof {
                return Error::new(ErrorKind::Layer, format!("truncated {found} stream {at}"));
            }
            return Error::new(ErrorKind::Layer, format!("corrupt {found} stream {at}"))
                .with_source(err);
        }
        let what = if self.tar.get().ended {
            "truncated"
        } else {
            "corrupt"
        };
        Error::new(
            ErrorKind::Layer,
            format!("{what} tar stream {at}{}", self.hint()),
        )
        .with_source(err)
    }

    /// A note for a tar error in a blob that did not show the compression it was declared with.
    fn hint(&self) -> String {
        if self.declared == self.found {
            return String::new();
        }
        format!(" (declared {} but read as {})", self.declared, self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_records_bytes_end_and_failure() {
        let status = Cell::new(Status::default());
        let mut r = Watched::new(&b"abc"[..], &status);
        let mut buf = [0u8; 2];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert!(!status.get().ended);
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        let s = status.get();
        assert_eq!((s.bytes, s.ended, s.failed), (3, true, false));

        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let status = Cell::new(Status::default());
        assert!(Watched::new(Broken, &status).read(&mut buf).is_err());
        assert!(status.get().failed);
    }

    #[test]
    fn blame_picks_the_failing_layer() {
        let blob = Cell::new(Status::default());
        let tar = Cell::new(Status::default());
        let blame = Blame {
            blob: &blob,
            tar: &tar,
            declared: Compression::Gzip,
            found: Compression::Gzip,
        };
        let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);

        let e = blame.error(io::Error::other("bad header"), Place::After("etc/passwd"));
        assert_eq!(e.kind(), ErrorKind::Layer);
        assert!(
            e.to_string()
                .starts_with("corrupt tar stream after entry etc/passwd"),
            "{e}"
        );

        tar.set(Status {
            failed: true,
            ..Status::default()
        });
        let e = blame.error(eof(), Place::In("bin/sh"));
        assert_eq!(e.to_string(), "truncated gzip stream in entry bin/sh");

        blob.set(Status {
            failed: true,
            ..Status::default()
        });
        let e = blame.error(io::Error::other("disk on fire"), Place::Start);
        assert_eq!(e.kind(), ErrorKind::Io);
        let digest = Error::new(
            ErrorKind::Digest,
            "blob sha256:00 does not match its digest",
        );
        let e = blame.error(io::Error::other(digest), Place::Start);
        assert_eq!(e.kind(), ErrorKind::Digest);
        assert!(e.to_string().contains("does not match"), "{e}");
    }
}
