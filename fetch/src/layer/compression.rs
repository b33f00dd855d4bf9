//! Layer compression: what a media type declares, what the first bytes show, and the decoder that
//! turns a blob into its tar stream.
//!
//! The magic bytes decide, as Docker's and containerd's `DecompressStream` do: `docker save`
//! archives name gzip layers `layer.tar`, and a media type can be missing or wrong. A tar stream
//! never starts with either magic (its first bytes are a file name).

use std::fmt;
use std::io::{self, BufReader, Cursor, Read};

use super::stream::read_full;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952); several concatenated members are one stream, as `pigz` writes them.
    Gzip,
    /// Zstandard; several concatenated frames are one stream.
    Zstd,
}

/// The first bytes of a gzip member.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// The first bytes of a Zstandard frame.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression an OCI or Docker layer media type declares; `None` (no answer) for a media
    /// type that is not a layer's.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The compression the first bytes of a blob show (at least 4 bytes are needed to see zstd).
    pub fn sniff(first_bytes: &[u8]) -> Compression {
        if first_bytes.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if first_bytes.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Reads the first bytes of `blob`, sniffs its compression and returns it with a reader of the
/// decompressed stream (which starts again from the first byte). Nothing is buffered beyond the
/// decoder's input buffer.
pub(super) fn open<'r>(mut blob: impl Read + 'r) -> io::Result<(Compression, Box<dyn Read + 'r>)> {
    let mut head = [0u8; ZSTD_MAGIC.len()];
    let filled = read_full(&mut blob, &mut head)?;
    let compression = Compression::sniff(&head[..filled]);
    let whole = Cursor::new(head).take(filled as u64).chain(blob);
    let stream = BufReader::with_capacity(64 * 1024, whole);
    let decoded: Box<dyn Read + 'r> = match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(stream)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(stream)?),
    };
    Ok((compression, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f]), Compression::None);
        assert_eq!(Compression::sniff(b"bin/\0\0\0"), Compression::None);
        assert_eq!(Compression::sniff(&[0x1f]), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }

    #[test]
    fn media_types() {
        let mt = Compression::from_media_type;
        assert_eq!(
            mt("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            mt("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            mt("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            mt("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            mt("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(mt("application/vnd.oci.image.config.v1+json"), None);
        assert_eq!(mt("application/vnd.oci.image.layer.v1.tar+bzip2"), None);
    }

    /// A reader that hands out one byte per call, to show the sniffing does not depend on how the
    /// blob's reads are cut.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn open_sniffs_across_short_reads_and_keeps_every_byte() {
        let plain = b"not compressed at all".to_vec();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        let (found, mut reader) = open(OneByte(&zst)).unwrap();
        assert_eq!(found, Compression::Zstd);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);

        let (found, mut reader) = open(OneByte(&plain)).unwrap();
        assert_eq!(found, Compression::None);
        out.clear();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);

        let (found, mut reader) = open(&b"ab"[..]).unwrap();
        assert_eq!(found, Compression::None);
        out.clear();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }
}
