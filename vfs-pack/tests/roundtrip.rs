//! Integration tests. Property tests: random trees survive packing and reading unchanged, the
//! reader resolves paths as `Tree::resolve` does, output is deterministic, and corrupted images
//! never panic the reader. Golden images: `fuzz/seeds/` holds packed sample trees, which seed the
//! fuzzer and pin the format; `BLESS=1 cargo test -p vfs-pack` rewrites them after a deliberate
//! format change.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::Index;
use vfs_pack::format::{
    DIRENT_SIZE as DIRENT, HEADER_SIZE as HEADER, Header, INODE_SIZE as INODE, InodeRecord, VERSION,
};
use vfs_pack::tree::{Inode, InodeId, Meta, Node, ResolveError, Tree};
use vfs_pack::{FsError, Image, InodeRef, Kind};

/// Few names, so that paths hit existing entries and entries replace each other. Byte order puts
/// `.hidden` and `...` before letters and the non-UTF-8 name last.
const NAMES: &[&[u8]] = &[
    b"a",
    b"b",
    b"lib",
    b"usr",
    b"...",
    b".hidden",
    b"x y",
    "\u{e9}".as_bytes(),
    b"\xff\xfe",
];

/// Contents shared between files, so that deduplication has something to do.
fn shared_content(i: usize) -> Vec<u8> {
    match i {
        0 => Vec::new(),
        1 => b"hello".to_vec(),
        2 => vec![7; 5000],
        _ => b"hello\0".to_vec(),
    }
}

#[derive(Clone, Debug)]
enum Spec {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    /// Another name for an earlier non-directory.
    HardLink(Index),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Socket,
}

/// A path over [`NAMES`], `.` and `..`, never empty and not ending in `/` or `/.`: there
/// `Tree::resolve` (which drops empty and `.` components) and Linux differ, and the reader follows
/// Linux (unit-tested in `read/resolve.rs`).
fn path() -> impl Strategy<Value = Vec<u8>> {
    let comp = prop_oneof![
        6 => (0..NAMES.len()).prop_map(|i| NAMES[i].to_vec()),
        2 => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
    ];
    (
        any::<bool>(),
        prop::collection::vec((comp, any::<bool>()), 1..6),
    )
        .prop_map(|(abs, comps)| {
            let mut path = if abs { b"/".to_vec() } else { Vec::new() };
            let last = comps.len() - 1;
            for (i, (comp, double)) in comps.into_iter().enumerate() {
                if i > 0 {
                    path.extend_from_slice(if double { b"//" } else { b"/" });
                }
                path.extend_from_slice(if i == last && comp == b"." {
                    b".."
                } else {
                    &comp
                });
            }
            path
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        4 => Just(Spec::Dir),
        2 => prop::collection::vec(any::<u8>(), 0..6000).prop_map(Spec::File),
        2 => (0..4usize).prop_map(|i| Spec::File(shared_content(i))),
        3 => path().prop_map(Spec::Symlink),
        2 => any::<Index>().prop_map(Spec::HardLink),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Spec::Char(a, b)),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Spec::Block(a, b)),
        1 => Just(Spec::Fifo),
        1 => Just(Spec::Socket),
    ]
}

fn meta() -> impl Strategy<Value = Meta> {
    (0u32..0o10000, any::<u32>(), any::<u32>(), any::<i64>()).prop_map(|(mode, uid, gid, mtime)| {
        Meta {
            mode,
            uid,
            gid,
            mtime,
        }
    })
}

/// A random tree: each step names a new inode (or hard-links an old one) in a random directory,
/// replacing any entry of that name, so some inodes end up unreachable.
fn tree() -> impl Strategy<Value = Tree> {
    let step = (any::<Index>(), 0..NAMES.len(), spec(), meta());
    prop::collection::vec(step, 0..40).prop_map(|steps| {
        let mut t = Tree::new();
        let (mut dirs, mut others) = (vec![t.root()], Vec::new());
        for (parent, name, spec, meta) in steps {
            let node = match spec {
                Spec::HardLink(i) if !others.is_empty() => {
                    t.link(
                        dirs[parent.index(dirs.len())],
                        NAMES[name],
                        others[i.index(others.len())],
                    );
                    continue;
                }
                Spec::HardLink(_) => continue,
                Spec::Dir => Node::Dir(Default::default()),
                Spec::File(data) => Node::File(data),
                Spec::Symlink(target) => Node::Symlink(target),
                Spec::Char(major, minor) => Node::CharDevice { major, minor },
                Spec::Block(major, minor) => Node::BlockDevice { major, minor },
                Spec::Fifo => Node::Fifo,
                Spec::Socket => Node::Socket,
            };
            let is_dir = matches!(node, Node::Dir(_));
            let id = t.add(Inode { meta, node });
            t.link(dirs[parent.index(dirs.len())], NAMES[name], id);
            if is_dir {
                dirs.push(id)
            } else {
                others.push(id)
            }
        }
        t
    })
}

fn pack(tree: &Tree) -> Vec<u8> {
    let mut out = Vec::new();
    vfs_pack::write(tree, &mut out).unwrap();
    out
}

/// The image inode of each reachable tree inode: numbered densely in `Tree::walk` order.
fn inode_numbers(tree: &Tree) -> HashMap<InodeId, u32> {
    let mut map = HashMap::new();
    for (_, id) in tree.walk() {
        let next = map.len() as u32;
        map.entry(id).or_insert(next);
    }
    map
}

/// Checks that `inode` holds what tree inode `id` does.
fn check_inode(tree: &Tree, image: &Image<'_>, id: InodeId, inode: &InodeRef) {
    let want = tree.get(id);
    let kind = match &want.node {
        Node::Dir(entries) => {
            let listed: Vec<_> = image.readdir(inode).unwrap().map(|e| e.unwrap()).collect();
            let names: Vec<_> = listed.iter().map(|e| e.name).collect();
            let tree_names: Vec<_> = entries.keys().map(|n| &n[..]).collect();
            assert_eq!(names, tree_names);
            let subdirs = listed
                .iter()
                .filter(|e| e.inode.kind() == Kind::Dir)
                .count();
            assert_eq!(inode.nlink() as usize, 2 + subdirs);
            for e in &listed {
                assert_eq!(image.lookup(inode, e.name).unwrap(), e.inode);
                if e.inode.kind() == Kind::Dir {
                    assert_eq!(image.parent(&e.inode).unwrap(), *inode);
                }
            }
            Kind::Dir
        }
        Node::File(data) => {
            assert_eq!(image.file_data(inode), &data[..]);
            assert_eq!(inode.size(), data.len() as u64);
            Kind::File
        }
        Node::Symlink(target) => {
            assert_eq!(image.readlink(inode).unwrap(), &target[..]);
            Kind::Symlink
        }
        Node::CharDevice { major, minor } => {
            assert_eq!(inode.device(), Some((*major, *minor)));
            Kind::CharDevice
        }
        Node::BlockDevice { major, minor } => {
            assert_eq!(inode.device(), Some((*major, *minor)));
            Kind::BlockDevice
        }
        Node::Fifo => Kind::Fifo,
        Node::Socket => Kind::Socket,
    };
    assert_eq!(inode.kind(), kind);
    assert_eq!(inode.mode(), kind.mode_bits() | want.meta.mode);
    assert_eq!(
        (inode.uid(), inode.gid(), inode.mtime()),
        (want.meta.uid, want.meta.gid, want.meta.mtime)
    );
}

fn same_error(tree: ResolveError, image: FsError) -> bool {
    matches!(
        (tree, image),
        (ResolveError::NotFound, FsError::NotFound)
            | (ResolveError::NotDir, FsError::NotDir)
            | (ResolveError::Loop, FsError::Loop)
    )
}

/// A small tree with every kind of inode: the fuzzer's seed and the golden image.
fn sample_tree() -> Tree {
    let mut t = Tree::new();
    let mut add = |path: &str, mode: u32, node: Node| {
        let dirs = Some(Meta::root(0o755));
        let (dir, name) = t.resolve_parent(path.as_bytes(), dirs, false).unwrap();
        let meta = Meta {
            mode,
            uid: 1000,
            gid: 100,
            mtime: 1_700_000_000,
        };
        let id = t.add(Inode { meta, node });
        t.link(dir, &name, id);
        id
    };
    add(
        "/etc/passwd",
        0o644,
        Node::File(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
    );
    add("/etc/group", 0o644, Node::File(b"root:x:0:\n".to_vec()));
    let busybox = add("/bin/busybox", 0o4755, Node::File(b"root:x:0:\n".to_vec()));
    add(
        "/usr/lib/os-release",
        0o777,
        Node::Symlink(b"../../etc/os-release".to_vec()),
    );
    add("/lib", 0o777, Node::Symlink(b"usr/lib".to_vec()));
    add("/loop", 0o777, Node::Symlink(b"loop/x".to_vec()));
    add(
        "/abs",
        0o777,
        Node::Symlink(b"/etc/../bin//busybox".to_vec()),
    );
    add("/dev/null", 0o666, Node::CharDevice { major: 1, minor: 3 });
    add("/dev/sda", 0o660, Node::BlockDevice { major: 8, minor: 0 });
    add("/run/fifo", 0o600, Node::Fifo);
    add("/run/sock", 0o600, Node::Socket);
    add("/tmp", 0o1777, Node::Dir(Default::default()));
    let (bin, _) = t.resolve_parent(b"/bin/sh", None, false).unwrap();
    t.link(bin, b"sh", busybox);
    t
}

#[test]
fn golden_images_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, tree) in [("empty.img", Tree::new()), ("sample.img", sample_tree())] {
        let bytes = pack(&tree);
        vfs_pack::fuzzing::exercise(&bytes);
        let path = dir.join(name);
        if std::env::var_os("BLESS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path).unwrap_or_default();
        assert!(
            golden == bytes,
            "{} differs from the packed tree; BLESS=1 rewrites it",
            path.display()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn trees_round_trip(tree in tree(), paths in prop::collection::vec((path(), any::<Index>()), 1..20)) {
        let bytes = pack(&tree);
        prop_assert_eq!(&bytes, &pack(&tree.clone()), "output is not deterministic");
        prop_assert_eq!(bytes.len() % 4096, 0);
        let image = Image::parse(&bytes).unwrap();
        let root = image.root();
        let inos = inode_numbers(&tree);
        prop_assert_eq!(image.inode_count() as usize, inos.len());
        let mut names = HashMap::<InodeId, u32>::new();
        for (path, id) in tree.walk() {
            let inode = image.resolve(&root, &path, false).unwrap();
            prop_assert_eq!(inode.ino(), inos[&id]);
            check_inode(&tree, &image, id, &inode);
            *names.entry(id).or_default() += 1;
        }
        for (id, count) in names {
            let inode = image.inode(inos[&id]).unwrap();
            if inode.kind() != Kind::Dir {
                prop_assert_eq!(inode.nlink(), count);
            }
        }
        // Resolve each path from a random directory: `Tree::resolve` sees the directory's path
        // and a relative path joined.
        let dirs: Vec<_> = tree.walk().into_iter().filter(|(_, id)| tree.entries(*id).is_some()).collect();
        for (path, start) in &paths {
            let (dir_path, dir) = &dirs[start.index(dirs.len())];
            let start = image.inode(inos[dir]).unwrap();
            let mut joined = if path.starts_with(b"/") { Vec::new() } else { dir_path.clone() };
            joined.push(b'/');
            joined.extend_from_slice(path);
            for follow in [false, true] {
                match (tree.resolve(&joined, follow), image.resolve(&start, path, follow)) {
                    (Ok(id), Ok(inode)) => prop_assert_eq!(inos[&id], inode.ino()),
                    (Err(a), Err(b)) => prop_assert!(same_error(a, b), "{a:?} vs {b:?}"),
                    (a, b) => prop_assert!(false, "{:?}: tree {a:?}, image {b:?}", joined),
                }
            }
        }
    }

    #[test]
    fn corrupt_images_never_panic(
        tree in tree(),
        flips in prop::collection::vec((any::<Index>(), 1..=255u8), 0..8),
        cut in prop::option::of(any::<Index>()),
        paths in prop::collection::vec(path(), 1..8),
    ) {
        let mut bytes = pack(&tree);
        // Aim the flips at the header and tables, where the structure is.
        let (_, header) = Header::decode(&bytes).unwrap();
        let meta_len = (header.strtab_off + header.strtab_len) as usize;
        for (at, xor) in flips {
            bytes[at.index(meta_len)] ^= xor;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        vfs_pack::fuzzing::exercise(&bytes);
        if let Ok(image) = Image::parse_unchecked(&bytes) {
            for path in &paths {
                let _ = image.resolve(&image.root(), path, true);
            }
        }
    }

    #[test]
    fn garbage_never_panics(
        mut bytes in prop::collection::vec(any::<u8>(), 144..4096),
        counts in (any::<Index>(), any::<Index>(), any::<Index>(), any::<Index>()),
        raw in any::<bool>(),
    ) {
        if !raw {
            // A valid header over random tables, and a root directory over random entries.
            let len = bytes.len();
            let inode_count = 1 + counts.0.index((len - HEADER) / INODE);
            let dirent_off = HEADER + inode_count * INODE;
            let dirent_count = counts.1.index((len - dirent_off) / DIRENT + 1);
            let strtab_off = dirent_off + dirent_count * DIRENT;
            let header = Header {
                version: VERSION,
                header_size: HEADER as u32,
                page_size: 4096,
                inode_count: inode_count as u32,
                dirent_count: dirent_count as u32,
                inode_off: HEADER as u64,
                dirent_off: dirent_off as u64,
                strtab_off: strtab_off as u64,
                strtab_len: counts.2.index(len - strtab_off + 1) as u64,
                data_len: len as u64,
                image_len: len as u64,
                ..Header::default()
            };
            bytes[..HEADER].copy_from_slice(&header.encode());
            let root = InodeRecord {
                mode: 0o040755,
                size: counts.3.index(dirent_count + 1) as u64,
                offset: 0,
                aux0: 0,
                ..InodeRecord::decode(&bytes[HEADER..]).unwrap()
            };
            bytes[HEADER..HEADER + INODE].copy_from_slice(&root.encode());
            prop_assert!(Image::parse_unchecked(&bytes).is_ok());
        }
        vfs_pack::fuzzing::exercise(&bytes);
    }
}
