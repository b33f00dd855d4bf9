//! Content digests: parsing `sha256:HEX` and checking bytes against one while they stream.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// A validated `sha256:<64 lowercase hex>` digest, the only algorithm registries use in practice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:HEX`; other algorithms are rejected with a message naming them.
    pub fn parse(text: &str) -> Result<Digest> {
        let bad =
            |why: &str| Error::new(ErrorKind::Manifest, format!("bad digest {text:?}: {why}"));
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| bad("only sha256 is supported"))?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("expected 64 lowercase hex digits"));
        }
        Ok(Digest(text.to_string()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The hex part, used as a file name in blob stores.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short form for messages and progress bars: `sha256:0123456789ab`.
    pub fn short(&self) -> &str {
        &self.0[..("sha256:".len() + 12)]
    }

    /// Checks `bytes` against this digest.
    pub fn verify(&self, bytes: &[u8], what: &str) -> Result<()> {
        let actual = Digest::of(bytes);
        if &actual != self {
            return Err(mismatch(what, self, &actual));
        }
        Ok(())
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn mismatch(what: &str, expected: &Digest, actual: &Digest) -> Error {
    Error::new(
        ErrorKind::Digest,
        format!("{what} does not match its digest: expected {expected}, got {actual}"),
    )
}

/// A reader that hashes what passes through it and, at end of stream, fails with an
/// [`io::ErrorKind::InvalidData`] error wrapping an [`ErrorKind::Digest`] error if the bytes do not
/// match, so a consumer can never reach a clean end of a corrupt blob.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    what: String,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, what: impl Into<String>) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected,
            what: what.into(),
            checked: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let actual = Digest(format!(
                "sha256:{}",
                hex::encode(self.hasher.clone().finalize())
            ));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    mismatch(&self.what, &self.expected, &actual),
                ));
            }
        }
        Ok(n)
    }
}

/// Recovers a digest error carried through an [`io::Error`] by [`VerifyingReader`].
pub fn digest_error_in(err: &io::Error) -> Option<&Error> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .filter(|e| e.kind() == ErrorKind::Digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_accepts_and_rejects() {
        let good = Digest::of(b"hello");
        let mut out = Vec::new();
        VerifyingReader::new(&b"hello"[..], good.clone(), "blob")
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        let err = VerifyingReader::new(&b"hellO"[..], good, "blob")
            .read_to_end(&mut out)
            .unwrap_err();
        let inner = digest_error_in(&err).expect("digest error inside");
        assert!(
            inner.to_string().contains("does not match its digest"),
            "{inner}"
        );
    }

    #[test]
    fn parse_checks_form() {
        assert!(Digest::parse(&format!("sha256:{}", "0".repeat(64))).is_ok());
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "G".repeat(64))).is_err());
        assert_eq!(Digest::of(b"").hex().len(), 64);
    }
}
