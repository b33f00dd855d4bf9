//! The reader's two error types: [`FormatError`] says an image is malformed (and where), and
//! [`FsError`] is what a filesystem operation tells the guest, as a Linux errno.

use core::fmt;

/// Linux errno values the reader reports (x86-64 and every other Linux architecture agree).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const ENOTDIR: i32 = 20;
    pub const EINVAL: i32 = 22;
    pub const ENAMETOOLONG: i32 = 36;
    pub const ELOOP: i32 = 40;
}

/// An image that is not a valid packed filesystem, with the byte offset of the field or record at
/// fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatError {
    kind: FormatErrorKind,
    offset: u64,
}

/// What is wrong with an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// Fewer bytes than the header, or than the header's `image_len`.
    Truncated,
    /// The image does not start with [`crate::format::MAGIC`].
    Magic,
    /// A version this reader does not understand.
    Version(u32),
    /// A header field has a value this version does not allow.
    Header,
    /// A table or the data region lies outside the image.
    Bounds,
    /// The checksum over the header and metadata tables does not match.
    Checksum { stored: u32, computed: u32 },
    /// An inode number past the inode table, or an inode record with a bad type or range.
    Inode,
    /// A directory entry whose name lies outside the string table or is not a file name.
    Dirent,
}

impl FormatError {
    pub(crate) fn new(kind: FormatErrorKind, offset: u64) -> FormatError {
        FormatError { kind, offset }
    }

    pub fn kind(&self) -> FormatErrorKind {
        self.kind
    }

    /// Byte offset in the image of the field or record at fault.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FormatErrorKind::Truncated => f.write_str("image is truncated")?,
            FormatErrorKind::Magic => f.write_str("not a packed filesystem image (bad magic)")?,
            FormatErrorKind::Version(v) => write!(f, "unsupported format version {v}")?,
            FormatErrorKind::Header => f.write_str("invalid header field")?,
            FormatErrorKind::Bounds => f.write_str("table out of bounds")?,
            FormatErrorKind::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            )?,
            FormatErrorKind::Inode => f.write_str("invalid inode")?,
            FormatErrorKind::Dirent => f.write_str("invalid directory entry")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl core::error::Error for FormatError {}

/// Why a filesystem operation failed, as the guest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsError {
    /// No such entry, or an empty path or symlink target (ENOENT).
    NotFound,
    /// A directory was needed (ENOTDIR).
    NotDir,
    /// More than [`crate::read::MAX_SYMLINKS`] symlinks were followed (ELOOP).
    Loop,
    /// A component is longer than `NAME_MAX` or the path than `PATH_MAX` (ENAMETOOLONG).
    NameTooLong,
    /// The operation does not apply to this inode, e.g. `readlink` of a file (EINVAL).
    Invalid,
    /// The image is malformed where the operation looked (EIO, as Linux reports a corrupt
    /// filesystem).
    Corrupt(FormatError),
}

impl FsError {
    /// The Linux errno for this error.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => errno::ENOENT,
            FsError::NotDir => errno::ENOTDIR,
            FsError::Loop => errno::ELOOP,
            FsError::NameTooLong => errno::ENAMETOOLONG,
            FsError::Invalid => errno::EINVAL,
            FsError::Corrupt(_) => errno::EIO,
        }
    }
}

impl From<FormatError> for FsError {
    fn from(e: FormatError) -> FsError {
        FsError::Corrupt(e)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or directory"),
            FsError::NotDir => f.write_str("not a directory"),
            FsError::Loop => f.write_str("too many levels of symbolic links"),
            FsError::NameTooLong => f.write_str("file name too long"),
            FsError::Invalid => f.write_str("invalid argument"),
            FsError::Corrupt(e) => write!(f, "corrupt filesystem image: {e}"),
        }
    }
}

impl core::error::Error for FsError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FsError::Corrupt(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn errors_map_to_linux_errno() {
        assert_eq!(FsError::NotFound.errno(), 2);
        assert_eq!(FsError::NotDir.errno(), 20);
        assert_eq!(FsError::Loop.errno(), 40);
        assert_eq!(FsError::NameTooLong.errno(), 36);
        assert_eq!(FsError::Invalid.errno(), 22);
        let corrupt = FormatError::new(FormatErrorKind::Inode, 144);
        assert_eq!(FsError::from(corrupt).errno(), 5);
        assert_eq!(corrupt.to_string(), "invalid inode at byte 144");
    }
}
