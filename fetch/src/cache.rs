//! The content-addressed blob cache under `$XDG_CACHE_HOME/oci2wasm` (else `~/.cache/oci2wasm`).
//!
//! Blobs are stored as `blobs/sha256/HEX`. A blob is written to a temporary file in the same
//! directory, checked against its digest, and only then renamed into place, so the cache never
//! holds a partial or corrupt blob under a digest's name, and two processes filling the same blob
//! race harmlessly. Cached blobs are checked again when read (see [`crate::digest`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// A blob store rooted at a directory.
#[derive(Clone, Debug)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// The cache at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> BlobCache {
        BlobCache { root: root.into() }
    }

    /// The per-user default location: `$XDG_CACHE_HOME/oci2wasm`, else `$HOME/.cache/oci2wasm`.
    pub fn default_location() -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("oci2wasm"));
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".cache").join("oci2wasm")),
            None => Err(Error::new(
                ErrorKind::Io,
                "no cache directory: set XDG_CACHE_HOME or HOME, or pass --cache-dir",
            )),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The path of `digest` if the cache holds it.
    pub fn get(&self, digest: &Digest) -> Option<PathBuf> {
        let path = self.path(digest);
        path.is_file().then_some(path)
    }

    /// Starts writing `digest`; finish with [`BlobWriter::commit`].
    pub fn writer(&self, digest: &Digest) -> Result<BlobWriter> {
        let dir = self.root.join("blobs").join("sha256");
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io("cannot create cache directory", &dir, e))?;
        let file = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| Error::io("cannot write in cache", &dir, e))?;
        Ok(BlobWriter {
            file,
            hasher: Sha256::new(),
            expected: digest.clone(),
            dest: self.path(digest),
            written: 0,
        })
    }

    /// Stores `bytes` as `digest` after checking them.
    pub fn put(&self, digest: &Digest, bytes: &[u8], what: &str) -> Result<PathBuf> {
        let mut writer = self.writer(digest)?;
        writer
            .write_all(bytes)
            .map_err(|e| Error::io("cannot write in cache", self.root(), e))?;
        writer.commit(what)
    }
}

/// A blob being written into the cache. Dropped without [`BlobWriter::commit`], its temporary file
/// is removed, so it leaves nothing.
#[derive(Debug)]
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    expected: Digest,
    dest: PathBuf,
    written: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks the digest and moves the blob into place; on a mismatch the bytes are discarded.
    pub fn commit(mut self, what: &str) -> Result<PathBuf> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if actual != self.expected.as_str() {
            return Err(Error::new(
                ErrorKind::Digest,
                format!(
                    "{what} does not match its digest: expected {}, got {actual}",
                    self.expected
                ),
            ));
        }
        self.file
            .flush()
            .map_err(|e| Error::io("cannot write", &self.dest, e))?;
        self.file
            .persist(&self.dest)
            .map_err(|e| Error::io("cannot store blob", &self.dest, e.error))?;
        Ok(self.dest)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_blobs_are_stored_and_bad_ones_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path());
        let digest = Digest::of(b"layer");
        assert!(cache.get(&digest).is_none());
        let err = cache.put(&digest, b"tampered", "layer").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Digest);
        let leftovers = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 0, "a rejected blob leaves no file");
        let path = cache.put(&digest, b"layer", "layer").unwrap();
        assert_eq!(fs::read(path).unwrap(), b"layer");
        assert!(cache.get(&digest).is_some());
    }
}
