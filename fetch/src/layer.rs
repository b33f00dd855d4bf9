//! Applying an image layer — a tar stream, plain, gzip or zstd — on top of an in-memory
//! [`Tree`], with the semantics of Docker's and containerd's layer unpacking (`layer/apply.rs`
//! describes entries, whiteouts and path safety). Nothing is written to the host.
//!
//! The compression is taken from the blob's first bytes, whatever the caller declared. The stream
//! must be complete: a decompressor error or an early end is an [`ErrorKind::Layer`] error, never a
//! silently partial tree. After the tar's end-of-archive marker the rest of the stream is read, so
//! gzip and zstd check their trailers; an uncompressed stream must carry the whole marker, since
//! nothing else shows it was not cut at a block boundary (a compressed one may lack it, as Go's
//! `archive/tar` allows).
//!
//! ```
//! use oci2wasm_fetch::{Compression, apply_layer};
//! use vfs_pack::tree::Tree;
//!
//! let mut tar = tar::Builder::new(Vec::new());
//! let mut header = tar::Header::new_gnu();
//! header.set_size(5);
//! header.set_mode(0o644);
//! tar.append_data(&mut header, "etc/motd", &b"hello"[..])?;
//! let layer = tar.into_inner()?;
//!
//! let mut rootfs = Tree::new();
//! let stats = apply_layer(&mut rootfs, &layer[..], Compression::None)?;
//! assert_eq!((stats.entries, stats.bytes), (1, 5));
//! assert!(rootfs.resolve(b"/etc/motd", true).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod compression;
mod entry;
mod path;
mod stream;
#[cfg(test)]
mod test_tar;
mod whiteout;

use std::cell::Cell;
use std::io::{self, Read};

use tar::EntryType;
use vfs_pack::tree::Tree;

use crate::{Error, ErrorKind, Result};
use apply::Applier;
use path::{PathError, Target};
use stream::{Blame, Place, Status, Watched, read_full};

pub use compression::Compression;

/// What applying a layer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Entries applied: files, directories, symlinks, hard links, devices, fifos.
    pub entries: u64,
    /// Whiteouts and opaque-directory markers applied.
    pub whiteouts: u64,
    /// Bytes of regular file contents.
    pub bytes: u64,
    /// Entries that are not part of the image: PAX global headers and whiteout metadata
    /// (`.wh..wh.*` names other than the opaque marker, AUFS's hard link directory).
    pub skipped: u64,
}

/// Applies one layer (a possibly compressed tar stream) on top of `tree`.
///
/// `compression` is what the layer's media type declares; the blob's magic bytes decide, and the
/// declaration is only named in errors when the two disagree. Errors name the entry they are
/// about; the caller adds the layer digest. On error the tree holds part of the layer.
pub fn apply_layer(
    tree: &mut Tree,
    blob: impl Read,
    compression: Compression,
) -> Result<LayerStats> {
    let blob_status = Cell::new(Status::default());
    let tar_status = Cell::new(Status::default());
    let mut blame = Blame {
        blob: &blob_status,
        tar: &tar_status,
        declared: compression,
        found: compression,
    };
    let (found, decoded) = compression::open(Watched::new(blob, &blob_status))
        .map_err(|e| blame.error(e, Place::Start))?;
    blame.found = found;
    let mut archive = tar::Archive::new(Watched::new(decoded, &tar_status));
    let mut applier = Applier::new(tree);
    let last = apply_entries(&mut archive, &mut applier, &blame)?;
    let place = last.as_deref().map_or(Place::Start, Place::After);
    finish(archive.into_inner(), tar_status.get(), &blame, place)?;
    Ok(applier.stats)
}

/// Checks how the tar stream ended once its entries are done, then reads the rest of it (the
/// padding after the marker) so a decompressor checks its trailer.
///
/// The tar crate stops at the first zero block of the end-of-archive marker, or when the stream
/// ends at a header boundary. As in Go's `archive/tar`, the second zero block may be missing but
/// must not be a header. An uncompressed stream must hold the whole marker: nothing else shows it
/// was not cut at a block boundary.
fn finish(mut rest: impl Read, status: Status, blame: &Blame<'_>, place: Place<'_>) -> Result<()> {
    let mut second = [0u8; 512];
    let marked = !status.ended && {
        let read = read_full(&mut rest, &mut second).map_err(|e| blame.error(e, place))?;
        if second.iter().any(|&b| b != 0) {
            let msg = format!("corrupt tar stream {place}: data inside the end-of-archive marker");
            return Err(Error::new(ErrorKind::Layer, msg));
        }
        read == second.len()
    };
    if !marked && status.bytes > 0 && blame.found == Compression::None {
        let msg = format!("truncated tar stream {place}: no complete end-of-archive marker");
        return Err(Error::new(ErrorKind::Layer, msg));
    }
    io::copy(&mut rest, &mut io::sink()).map_err(|e| blame.error(e, place))?;
    Ok(())
}

/// Applies every entry; returns the path of the last one.
fn apply_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    applier: &mut Applier<'_>,
    blame: &Blame<'_>,
) -> Result<Option<String>> {
    let mut last: Option<String> = None;
    for entry in archive
        .entries()
        .map_err(|e| blame.error(e, Place::Start))?
    {
        let place = last.as_deref().map_or(Place::Start, Place::After);
        let mut entry = entry.map_err(|e| blame.error(e, place))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        apply_entry(&mut entry, &raw, &shown, applier, blame)?;
        last = Some(shown);
    }
    Ok(last)
}

/// Applies one entry whose raw path is `raw`, shown as `path`.
fn apply_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
    path: &str,
    applier: &mut Applier<'_>,
    blame: &Blame<'_>,
) -> Result<()> {
    if entry.header().entry_type() == EntryType::XGlobalHeader {
        applier.stats.skipped += 1;
        return Ok(());
    }
    let comps = path::clean(raw).map_err(|e| match e {
        PathError::Escapes => Error::new(
            ErrorKind::UnsafeEntry,
            format!("layer entry {path} leaves the image root"),
        ),
        PathError::Nul => Error::new(
            ErrorKind::Layer,
            format!("layer entry {path} holds a NUL byte"),
        ),
    })?;
    match path::classify(&comps) {
        Target::Ignored => applier.stats.skipped += 1,
        Target::Whiteout(name) => applier.whiteout(&comps, name, path)?,
        Target::Opaque => applier.opaque(&comps, path)?,
        Target::Root => applier.root(path, entry::read(entry, path, blame)?)?,
        Target::AufsLink(base) => applier.aufs_link(base, entry::read(entry, path, blame)?),
        Target::Entry => applier.entry(&comps, path, entry::read(entry, path, blame)?)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::test_tar::{LayerBuilder, meta};
    use super::*;
    use vfs_pack::tree::Node;

    /// A layer big enough that its compressed form spans many decoder reads.
    fn sample() -> LayerBuilder {
        let noise: Vec<u8> = (0..40_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        LayerBuilder::new()
            .dir("etc", meta(0o755, 0, 0, 1))
            .file("etc/hostname", b"box\n", meta(0o644, 0, 0, 1))
            .file("usr/lib/blob", &noise, meta(0o644, 0, 0, 1))
            .symlink("lib", "usr/lib", meta(0o777, 0, 0, 1))
    }

    fn applies(bytes: &[u8], declared: Compression) -> Result<LayerStats> {
        let mut tree = Tree::new();
        let stats = apply_layer(&mut tree, bytes, declared)?;
        let blob = tree.get(tree.resolve(b"/lib/blob", true).unwrap());
        assert!(matches!(&blob.node, Node::File(d) if d.len() == 40_000));
        Ok(stats)
    }

    #[test]
    fn every_compression_whatever_was_declared() {
        let expected = LayerStats {
            entries: 4,
            whiteouts: 0,
            bytes: 40_004,
            skipped: 0,
        };
        for layer in [sample().tar(), sample().gzip(), sample().zstd()] {
            for declared in [Compression::None, Compression::Gzip, Compression::Zstd] {
                assert_eq!(applies(&layer, declared).unwrap(), expected);
            }
        }
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let tar = sample().tar();
        let mut gz = Vec::new();
        for half in [&tar[..10_000], &tar[10_000..]] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut enc, half).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        applies(&gz, Compression::Gzip).unwrap();
    }

    /// Every cut of `layer` short of its full length must fail, with a message of `kind`.
    fn every_truncation_fails(layer: &[u8], step: usize) {
        for len in (0..layer.len()).step_by(step).filter(|&len| len > 0) {
            let err = apply_layer(&mut Tree::new(), &layer[..len], Compression::None)
                .expect_err(&format!("cut at {len} of {}", layer.len()));
            assert_eq!(err.kind(), ErrorKind::Layer, "cut at {len}: {err}");
            assert!(err.to_string().contains("truncated"), "cut at {len}: {err}");
        }
    }

    #[test]
    fn truncated_gzip_is_an_error_at_every_cut() {
        every_truncation_fails(&sample().gzip(), 1);
    }

    #[test]
    fn truncated_zstd_is_an_error_at_every_cut() {
        every_truncation_fails(&sample().zstd(), 1);
        // Two frames: cuts in the second one come after the first one's output was applied.
        let tar = sample().tar();
        let mut two = zstd::encode_all(&tar[..10_000], 3).unwrap();
        two.extend(zstd::encode_all(&tar[10_000..], 3).unwrap());
        applies(&two, Compression::Zstd).unwrap();
        every_truncation_fails(&two, 1);
    }

    #[test]
    fn truncated_tar_is_an_error_at_every_cut() {
        // Every header and data boundary, and points inside them.
        every_truncation_fails(&sample().tar(), 256);
        every_truncation_fails(&sample().tar(), 77);
    }

    #[test]
    fn compressed_stream_with_trailing_garbage_is_an_error() {
        for mut layer in [sample().gzip(), sample().zstd()] {
            layer.extend_from_slice(b"garbage after the stream");
            let err = apply_layer(&mut Tree::new(), &layer[..], Compression::None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Layer);
            assert!(err.to_string().starts_with("corrupt"), "{err}");
        }
    }

    #[test]
    fn garbage_is_an_error_naming_the_declared_compression() {
        let garbage: Vec<u8> = b"this is not a tar stream. "
            .iter()
            .copied()
            .cycle()
            .take(2048)
            .collect();
        let err = apply_layer(&mut Tree::new(), &garbage[..], Compression::Gzip).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Layer);
        let msg = err.to_string();
        assert!(
            msg.starts_with("corrupt tar stream at the start of the layer"),
            "{msg}"
        );
        assert!(
            msg.contains("declared gzip but read as uncompressed"),
            "{msg}"
        );

        let mut bad_gzip = sample().gzip();
        bad_gzip[20] ^= 0xff;
        let err = apply_layer(&mut Tree::new(), &bad_gzip[..], Compression::Gzip).unwrap_err();
        assert!(err.to_string().starts_with("corrupt gzip stream"), "{err}");
    }

    #[test]
    fn bad_header_checksum_is_an_error() {
        let mut tar = sample().tar();
        tar[600] ^= 0x01; // inside the second header's name
        let err = apply_layer(&mut Tree::new(), &tar[..], Compression::None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Layer);
        assert!(
            err.to_string()
                .starts_with("corrupt tar stream after entry etc: "),
            "{err}"
        );
    }

    #[test]
    fn a_header_inside_the_end_of_archive_marker_is_an_error() {
        let first = sample().tar();
        let mut joined = first[..first.len() - 512].to_vec();
        joined.extend(
            LayerBuilder::new()
                .file("more", b"", meta(0o644, 0, 0, 0))
                .tar(),
        );
        let err = apply_layer(&mut Tree::new(), &joined[..], Compression::None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Layer);
        assert!(
            err.to_string().contains("inside the end-of-archive marker"),
            "{err}"
        );
    }

    #[test]
    fn empty_layers_apply_nothing() {
        let empty_tar = LayerBuilder::new().tar();
        for layer in [vec![], empty_tar.clone(), LayerBuilder::new().gzip()] {
            let stats = apply_layer(&mut Tree::new(), &layer[..], Compression::None).unwrap();
            assert_eq!(stats, LayerStats::default());
        }
        // A compressed tar without its end-of-archive marker is complete: the decoder says so.
        let tar = sample().tar();
        let unmarked = zstd::encode_all(&tar[..tar.len() - 1024], 3).unwrap();
        applies(&unmarked, Compression::Zstd).unwrap();
    }

    #[test]
    fn errors_of_the_blob_reader_keep_their_kind() {
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    let digest = Error::new(ErrorKind::Digest, "blob does not match its digest");
                    return Err(io::Error::other(digest));
                }
                let n = self.0.read(buf)?;
                Ok(n)
            }
        }
        let gz = sample().gzip();
        let err = apply_layer(&mut Tree::new(), Failing(&gz), Compression::Gzip).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Digest, "{err}");
    }
}
