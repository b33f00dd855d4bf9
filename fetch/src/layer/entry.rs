//! One tar entry read into what the tree needs: its kind (with a file's contents or a link's
//! target) and its metadata, from the header and the PAX records before it.
//!
//! Regular files (`0`, the pre-POSIX `\0`, contiguous `7` and GNU sparse `S`, which the tar crate
//! expands) become files; a pre-POSIX `\0` entry whose name ends in `/` is a directory, as Go's
//! `archive/tar` reads it. Directories, symlinks, hard links, character and block devices and fifos
//! are supported; any other type is an error, as in Docker's `createTarFile` ("unhandled tar header
//! type"). PAX sparse files (`GNU.sparse.*` records) are refused rather than unpacked wrongly.

use std::io::{self, Read};

use tar::EntryType;
use vfs_pack::tree::Meta;

use super::stream::{Blame, Place};
use crate::{Error, ErrorKind, Result};

/// What an entry creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    File(Vec<u8>),
    Dir,
    /// The target as stored.
    Symlink(Vec<u8>),
    /// The path of an earlier entry, from the image root.
    HardLink(Vec<u8>),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// An entry ready to be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub kind: Kind,
    /// For a symlink the mode is always `0o777`, as Linux shows it.
    pub meta: Meta,
}

/// Reads the entry at the stream's position; `path` is its name as shown in messages.
pub(super) fn read<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &str,
    blame: &Blame<'_>,
) -> Result<Entry> {
    let corrupt = |e: io::Error| {
        Error::new(
            ErrorKind::Layer,
            format!("layer entry {path} has a corrupt header"),
        )
        .with_source(e)
    };
    let mut mtime = None;
    if let Some(records) = entry
        .pax_extensions()
        .map_err(|e| blame.error(e, Place::In(path)))?
    {
        for record in records {
            let record = record.map_err(corrupt)?;
            let key = record.key_bytes();
            if key.starts_with(b"GNU.sparse.") {
                let msg =
                    format!("layer entry {path} is a PAX sparse file, which is not supported");
                return Err(Error::new(ErrorKind::Layer, msg));
            }
            if key == b"mtime" {
                let value = record.value_bytes();
                mtime = Some(pax_time(value).ok_or_else(|| {
                    let value = String::from_utf8_lossy(value);
                    Error::new(
                        ErrorKind::Layer,
                        format!("layer entry {path} has PAX mtime {value:?}"),
                    )
                })?);
            }
        }
    }
    let header = entry.header();
    let id = |value: u64, what: &str| {
        u32::try_from(value).map_err(|_| {
            Error::new(
                ErrorKind::Layer,
                format!("layer entry {path} has {what} {value}, over 2^32"),
            )
        })
    };
    let old = header.as_old();
    let mtime = match mtime {
        Some(t) => t,
        None => {
            i64::try_from(numeric(&old.mtime, header.mtime()).map_err(corrupt)?).map_err(|_| {
                Error::new(
                    ErrorKind::Layer,
                    format!("layer entry {path} has an mtime out of range"),
                )
            })?
        }
    };
    let mode = numeric(&old.mode, header.mode().map(u64::from)).map_err(corrupt)?;
    let mut meta = Meta {
        mode: (mode & 0o7777) as u32,
        uid: id(numeric(&old.uid, header.uid()).map_err(corrupt)?, "uid")?,
        gid: id(numeric(&old.gid, header.gid()).map_err(corrupt)?, "gid")?,
        mtime,
    };
    let device = || -> io::Result<(u32, u32)> {
        Ok((
            header.device_major()?.unwrap_or(0),
            header.device_minor()?.unwrap_or(0),
        ))
    };
    let link_target = || {
        // Linux link targets are non-empty and hold no NUL (which only PAX records could carry).
        let target = entry
            .link_name_bytes()
            .filter(|t| !t.is_empty() && !t.contains(&0));
        target.map(|t| t.into_owned()).ok_or_else(|| {
            let msg = format!("layer entry {path} is a link without a valid target");
            Error::new(ErrorKind::Layer, msg)
        })
    };
    let pre_posix = old.linkflag[0] == 0;
    let kind = match header.entry_type() {
        EntryType::Regular if pre_posix && entry.path_bytes().ends_with(b"/") => Kind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            Kind::File(read_data(entry, path, blame)?)
        }
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => {
            meta.mode = 0o777;
            Kind::Symlink(link_target()?)
        }
        EntryType::Link => Kind::HardLink(link_target()?),
        EntryType::Char => {
            let (major, minor) = device().map_err(corrupt)?;
            Kind::CharDevice { major, minor }
        }
        EntryType::Block => {
            let (major, minor) = device().map_err(corrupt)?;
            Kind::BlockDevice { major, minor }
        }
        EntryType::Fifo => Kind::Fifo,
        other => {
            let byte = other.as_byte().escape_ascii();
            let msg = format!("layer entry {path} has unsupported tar entry type '{byte}'");
            return Err(Error::new(ErrorKind::Layer, msg));
        }
    };
    Ok(Entry { kind, meta })
}

/// A file's contents, exactly as many bytes as the header says.
fn read_data<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &str,
    blame: &Blame<'_>,
) -> Result<Vec<u8>> {
    let size = entry.size();
    let mut data = Vec::new();
    usize::try_from(size)
        .ok()
        .and_then(|n| data.try_reserve_exact(n).ok())
        .ok_or_else(|| {
            let msg = format!("layer entry {path} is {size} bytes, more than fits in memory");
            Error::new(ErrorKind::Layer, msg)
        })?;
    entry
        .read_to_end(&mut data)
        .map_err(|e| blame.error(e, Place::In(path)))?;
    if data.len() as u64 != size {
        let short = format!("{} of {size} bytes", data.len());
        return Err(blame.error(
            io::Error::new(io::ErrorKind::UnexpectedEof, short),
            Place::In(path),
        ));
    }
    Ok(data)
}

/// A numeric header field as parsed by the tar crate, except that an empty one (all NULs or
/// spaces) is 0, as Go's `archive/tar` reads it.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        Ok(0)
    } else {
        parsed
    }
}

/// Whole seconds (rounded down) of a PAX time such as `1700000000.123456789` or `-1.5`.
fn pax_time(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let below_zero = whole.starts_with('-') && fraction.bytes().any(|b| b != b'0');
    if below_zero {
        seconds.checked_sub(1)
    } else {
        Some(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_tar::{LayerBuilder, apply, meta};
    use super::*;
    use vfs_pack::tree::{Node, Tree};

    #[test]
    fn pax_times_round_down() {
        assert_eq!(pax_time(b"1700000000"), Some(1_700_000_000));
        assert_eq!(pax_time(b"1700000000.999999999"), Some(1_700_000_000));
        assert_eq!(pax_time(b"-1.5"), Some(-2));
        assert_eq!(pax_time(b"-0.5"), Some(-1));
        assert_eq!(pax_time(b"-3.000"), Some(-3));
        assert_eq!(pax_time(b"12x"), None);
        assert_eq!(pax_time(b"1.2.3"), None);
        assert_eq!(pax_time(b""), None);
    }

    fn node_and_meta(tree: &Tree, path: &str) -> (Node, Meta) {
        let inode = tree.get(tree.resolve(path.as_bytes(), false).unwrap());
        (inode.node.clone(), inode.meta)
    }

    #[test]
    fn every_supported_type_with_its_metadata() {
        let m = meta(0o4755, 1000, 100, 1_600_000_000);
        let layer = LayerBuilder::new()
            .dir("usr", meta(0o1777, 0, 0, 5))
            .file("usr/su", b"binary", m)
            .symlink("usr/link", "su", meta(0o644, 7, 8, 9))
            .device("dev/null", EntryType::Char, 1, 3, meta(0o666, 0, 0, 1))
            .device("dev/sda", EntryType::Block, 8, 0, meta(0o660, 0, 6, 1))
            .fifo("run/initctl", meta(0o600, 0, 0, 2))
            .raw(b"old-style", b'\0', b"pre-posix", meta(0o644, 0, 0, 3))
            .raw(b"old-dir/", b'\0', b"", meta(0o700, 0, 0, 4))
            .raw(b"contiguous", b'7', b"data", meta(0o644, 0, 0, 3))
            .tar();
        let mut tree = Tree::new();
        let stats = apply(&mut tree, &layer).unwrap();
        assert_eq!((stats.entries, stats.whiteouts, stats.bytes), (9, 0, 19));
        assert!(
            matches!(node_and_meta(&tree, "usr"), (Node::Dir(_), m) if m == meta(0o1777, 0, 0, 5))
        );
        assert_eq!(
            node_and_meta(&tree, "usr/su"),
            (Node::File(b"binary".to_vec()), m)
        );
        assert_eq!(
            node_and_meta(&tree, "usr/link"),
            (Node::Symlink(b"su".to_vec()), meta(0o777, 7, 8, 9))
        );
        assert_eq!(
            node_and_meta(&tree, "dev/null"),
            (
                Node::CharDevice { major: 1, minor: 3 },
                meta(0o666, 0, 0, 1)
            )
        );
        assert_eq!(
            node_and_meta(&tree, "dev/sda"),
            (
                Node::BlockDevice { major: 8, minor: 0 },
                meta(0o660, 0, 6, 1)
            )
        );
        assert_eq!(
            node_and_meta(&tree, "run/initctl"),
            (Node::Fifo, meta(0o600, 0, 0, 2))
        );
        assert_eq!(
            node_and_meta(&tree, "old-style").0,
            Node::File(b"pre-posix".to_vec())
        );
        assert!(matches!(node_and_meta(&tree, "old-dir"), (Node::Dir(_), m) if m.mode == 0o700));
        assert_eq!(
            node_and_meta(&tree, "contiguous").0,
            Node::File(b"data".to_vec())
        );
    }

    #[test]
    fn mode_keeps_only_permission_bits() {
        let layer = LayerBuilder::new()
            .raw(b"f", b'0', b"", meta(0o100_6755, 0, 0, 0))
            .tar();
        let mut tree = Tree::new();
        apply(&mut tree, &layer).unwrap();
        assert_eq!(node_and_meta(&tree, "f").1.mode, 0o6755);
    }

    /// A layer of one empty file `f` whose header fields other than name and size are left empty
    /// and then edited.
    fn bare_header(edit: impl FnOnce(&mut tar::Header)) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(0);
        edit(&mut h);
        h.set_cksum();
        let mut layer = tar::Builder::new(Vec::new());
        layer.append(&h, &[][..]).unwrap();
        layer.into_inner().unwrap()
    }

    #[test]
    fn empty_numeric_fields_are_zero_but_garbage_is_an_error() {
        let mut tree = Tree::new();
        apply(&mut tree, &bare_header(|_| {})).unwrap();
        assert_eq!(node_and_meta(&tree, "f").1, meta(0, 0, 0, 0));
        let err = apply(
            &mut Tree::new(),
            &bare_header(|h| h.as_old_mut().uid[0] = b'x'),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Layer);
        assert!(err.to_string().contains("f has a corrupt header"), "{err}");
    }

    #[test]
    fn pax_records_give_long_names_ids_and_mtime() {
        let long = format!("{}/file", "d".repeat(150));
        let target = format!("{}/target", "t".repeat(120));
        let layer = LayerBuilder::new()
            .pax(&[("mtime", "1700000000.5"), ("uid", "70000"), ("path", &long)])
            .file("short-name-replaced-by-pax", b"x", meta(0o644, 0, 0, 1))
            .symlink("gnu-long-link", &target, meta(0o777, 0, 0, 1))
            .file(
                &format!("{}/gnu-long-name", "g".repeat(120)),
                b"y",
                meta(0o644, 0, 0, 1),
            )
            .tar();
        let mut tree = Tree::new();
        apply(&mut tree, &layer).unwrap();
        let (node, m) = node_and_meta(&tree, &long);
        assert_eq!(
            (node, m.uid, m.mtime),
            (Node::File(b"x".to_vec()), 70000, 1_700_000_000)
        );
        assert_eq!(
            node_and_meta(&tree, "gnu-long-link").0,
            Node::Symlink(target.into_bytes())
        );
        assert!(
            tree.resolve(
                format!("{}/gnu-long-name", "g".repeat(120)).as_bytes(),
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn global_pax_headers_are_skipped() {
        let layer = LayerBuilder::new()
            .raw(
                b"pax_global_header",
                b'g',
                b"20 comment=ignored\n",
                meta(0o644, 0, 0, 0),
            )
            .file("a", b"", meta(0o644, 0, 0, 0))
            .tar();
        let mut tree = Tree::new();
        let stats = apply(&mut tree, &layer).unwrap();
        assert_eq!((stats.entries, stats.skipped), (1, 1));
        assert!(tree.resolve(b"pax_global_header", false).is_err());
    }

    #[test]
    fn unsupported_types_and_bad_records_are_errors() {
        let cases = [
            LayerBuilder::new()
                .raw(b"vol", b'V', b"", meta(0o644, 0, 0, 0))
                .tar(),
            LayerBuilder::new()
                .pax(&[("GNU.sparse.major", "1")])
                .file("GNUSparseFile.0/f", b"", meta(0o644, 0, 0, 0))
                .tar(),
            LayerBuilder::new()
                .pax(&[("mtime", "soon")])
                .file("f", b"", meta(0o644, 0, 0, 0))
                .tar(),
            LayerBuilder::new()
                .pax(&[("uid", "4294967296")])
                .file("f", b"", meta(0, 0, 0, 0))
                .tar(),
        ];
        let expected = [
            "unsupported tar entry type 'V'",
            "PAX sparse",
            "PAX mtime",
            "uid 4294967296",
        ];
        for (layer, expected) in cases.iter().zip(expected) {
            let err = apply(&mut Tree::new(), layer).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Layer);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
