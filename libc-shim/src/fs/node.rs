//! What a path can name: an inode of the packed image (lower layer), an inode of the writable
//! in-memory overlay (upper layer, tmpfs semantics), a synthesized `/dev` or `/proc` entry, or a
//! file in a host directory mounted through a WASI preopen. Also their `stat` metadata.

use super::synth::Synth;
use crate::abi::{Stat, Timespec, makedev, s};
use crate::platform::{HostStat, Kind};
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use vfs_pack::InodeRef;

/// Device number of the packed image and its overlay (one filesystem to the guest).
pub const ROOT_DEV: u64 = 0x2a;
/// Upper-layer inode numbers start here, far above any image inode.
pub const UPPER_INO_BASE: u64 = 1 << 40;

/// A shared overlay inode.
pub type UpperRef = Rc<RefCell<Upper>>;

/// Anything a path can name.
#[derive(Clone, Debug)]
pub enum Node {
    Lower(InodeRef),
    Upper(UpperRef),
    Synth(Synth),
    /// A host file: the mount's index and the path below the mount's root (empty for the root).
    Host {
        mount: usize,
        path: Vec<u8>,
        stat: HostStat,
    },
}

/// One entry of an overlay directory.
#[derive(Clone, Debug)]
pub enum Entry {
    Node(Node),
    /// Hides the lower entry of the same name.
    Whiteout,
}

/// The content of an overlay inode.
#[derive(Debug)]
pub enum Body {
    /// A directory; `lower` is the image directory it is merged over (`None`: opaque).
    Dir {
        entries: BTreeMap<Vec<u8>, Entry>,
        lower: Option<InodeRef>,
    },
    File(Vec<u8>),
    Symlink(Vec<u8>),
}

/// An overlay inode.
#[derive(Debug)]
pub struct Upper {
    pub ino: u64,
    /// `st_mode` with type bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub body: Body,
}

impl Upper {
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Dir { .. } => Kind::Dir,
            Body::File(_) => Kind::File,
            Body::Symlink(_) => Kind::Symlink,
        }
    }

    pub fn stat(&self) -> Stat {
        let size = match &self.body {
            Body::Dir { .. } => 4096,
            Body::File(d) => d.len() as u64,
            Body::Symlink(t) => t.len() as u64,
        };
        Stat {
            dev: ROOT_DEV,
            ino: self.ino,
            nlink: u64::from(self.nlink),
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
        }
    }
}

/// `stat` of an image inode.
pub fn lower_stat(i: &InodeRef) -> Stat {
    let t = Timespec {
        sec: i.mtime(),
        nsec: 0,
    };
    Stat {
        dev: ROOT_DEV,
        ino: u64::from(i.ino()) + 2,
        nlink: u64::from(i.nlink()),
        mode: i.mode(),
        uid: i.uid(),
        gid: i.gid(),
        rdev: i.device().map_or(0, |(ma, mi)| makedev(ma, mi)),
        size: i.size(),
        blksize: 4096,
        blocks: i.size().div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
    }
}

/// `stat` of a host file.
pub fn host_stat(mount: usize, h: &HostStat) -> Stat {
    let t = Timespec::from_ns(h.mtime_ns);
    let perm = if h.kind == Kind::Dir { 0o755 } else { 0o644 };
    Stat {
        dev: 0x100 + mount as u64,
        ino: h.ino,
        nlink: h.nlink.max(1),
        mode: h.kind.mode_bits() | perm,
        size: h.size,
        blksize: 4096,
        blocks: h.size.div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
        ..Stat::default()
    }
}

impl Node {
    pub fn kind(&self) -> Kind {
        match self {
            Node::Lower(i) => i.kind(),
            Node::Upper(u) => u.borrow().kind(),
            Node::Synth(s) => s.kind(),
            Node::Host { stat, .. } => stat.kind,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind() == Kind::Dir
    }

    /// Whether two nodes are the same inode (for `rename` onto itself and hard links).
    pub fn same(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Lower(a), Node::Lower(b)) => a.ino() == b.ino(),
            (Node::Upper(a), Node::Upper(b)) => Rc::ptr_eq(a, b),
            (Node::Synth(a), Node::Synth(b)) => a == b,
            (
                Node::Host {
                    mount: m, path: p, ..
                },
                Node::Host {
                    mount: n, path: q, ..
                },
            ) => m == n && p == q,
            _ => false,
        }
    }
}

/// Whether `mode` (type bits included) names a directory.
pub fn mode_is_dir(mode: u32) -> bool {
    mode & s::IFMT == s::IFDIR
}
