//! The packed read-only filesystem of oci2wasm.
//!
//! A container image's root filesystem is packed once, at conversion time, into one byte string
//! that the runtime serves read-only from the Wasm module's data: directories, regular files,
//! symlinks, hard links (inodes named twice), devices, fifos and sockets, with modes, owners and
//! modification times. `FORMAT.md` beside this crate specifies the layout.
//!
//! - [`tree`] (feature `std`): the in-memory tree image layers are applied into.
//! - [`write()`] (feature `std`): packs a tree, deterministically, storing equal file contents once
//!   and page-aligned, streaming file data without copying it.
//! - [`Image`] (always, `no_std`, no allocation): parses an image once, then looks up, lists and
//!   resolves paths with Linux semantics, handing out file data as slices of the image. It never
//!   panics or loops forever, whatever the bytes.
//!
//! ```
//! # #[cfg(feature = "std")] // The example needs `tree` and `write`.
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vfs_pack::tree::{Inode, Meta, Node, Tree};
//! use vfs_pack::{FsError, Image, Kind};
//!
//! // Build /etc/os-release and a relative symlink /usr/lib/os-release -> ../../etc/os-release.
//! let mut tree = Tree::new();
//! let (etc, name) = tree.resolve_parent(b"/etc/os-release", Some(Meta::root(0o755)), false)?;
//! let file = tree.add(Inode { meta: Meta::root(0o644), node: Node::File(b"ID=debian\n".to_vec()) });
//! tree.link(etc, &name, file);
//! let (lib, name) = tree.resolve_parent(b"/usr/lib/os-release", Some(Meta::root(0o755)), false)?;
//! let link = tree.add(Inode {
//!     meta: Meta::root(0o777),
//!     node: Node::Symlink(b"../../etc/os-release".to_vec()),
//! });
//! tree.link(lib, &name, link);
//!
//! // Pack it.
//! let mut bytes = Vec::new();
//! let stats = vfs_pack::write(&tree, &mut bytes)?;
//! assert_eq!(stats.inodes, 6);
//!
//! // Read it back: resolve through the symlink and read the file without copying.
//! let image = Image::parse(&bytes)?;
//! let root = image.root();
//! let inode = image.resolve(&root, b"/usr/lib/os-release", true)?;
//! assert_eq!(inode.kind(), Kind::File);
//! assert_eq!(image.file_data(&inode), b"ID=debian\n");
//! let usr = image.resolve(&root, b"usr", true)?;
//! let link = image.resolve(&usr, b"lib/os-release", false)?;
//! assert_eq!(image.readlink(&link)?, b"../../etc/os-release");
//! assert_eq!(image.resolve(&root, b"/etc/os-release/x", true), Err(FsError::NotDir));
//! assert_eq!(FsError::NotDir.errno(), 20);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod read;
#[cfg(feature = "std")]
pub mod tree;
#[cfg(feature = "std")]
mod write;

/// Runs the README's example as a doctest.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

pub use error::{FormatError, FormatErrorKind, FsError, errno};
pub use format::Kind;
pub use read::{DirEntry, Image, InodeRef, MAX_SYMLINKS, NAME_MAX, PATH_MAX, ReadDir};
#[cfg(feature = "std")]
pub use write::{WriteStats, write};
