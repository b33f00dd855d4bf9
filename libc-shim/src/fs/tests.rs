//! Host tests of the filesystem over an image built with `vfs_pack::tree` and `vfs_pack::write`.

use super::synth::ProcSource;
use super::*;
use crate::platform::testing::TestPlatform;
use alloc::boxed::Box;
use alloc::string::String;
use vfs_pack::tree::{Inode, Meta, Node as TNode, Tree};

/// An empty `/proc` source.
pub struct NoProc;
impl ProcSource for NoProc {
    fn maps(&self) -> Vec<u8> {
        b"00400000-00401000 r-xp 00000000 00:00 0 /bin/x\n".to_vec()
    }
    fn memory(&self) -> (u64, u64) {
        (1 << 30, 1 << 20)
    }
}

/// A small image: /bin/busybox, /bin/sh -> busybox, /etc/passwd, /etc/link -> ../etc/passwd,
/// /etc/abs -> /etc, /loop -> loop, /tmp, /usr/lib/a.
pub fn image() -> Image<'static> {
    let mut t = Tree::new();
    let add = |t: &mut Tree, path: &[u8], node: TNode, mode: u32| {
        let (dir, name) = t
            .resolve_parent(path, Some(Meta::root(0o755)), false)
            .unwrap();
        let id = t.add(Inode {
            meta: Meta::root(mode),
            node,
        });
        t.link(dir, &name, id);
    };
    add(
        &mut t,
        b"/bin/busybox",
        TNode::File(b"\x7fELF...".to_vec()),
        0o755,
    );
    add(
        &mut t,
        b"/bin/sh",
        TNode::Symlink(b"busybox".to_vec()),
        0o777,
    );
    add(
        &mut t,
        b"/etc/passwd",
        TNode::File(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
        0o644,
    );
    add(
        &mut t,
        b"/etc/link",
        TNode::Symlink(b"../etc/passwd".to_vec()),
        0o777,
    );
    add(&mut t, b"/etc/abs", TNode::Symlink(b"/etc".to_vec()), 0o777);
    add(&mut t, b"/loop", TNode::Symlink(b"loop".to_vec()), 0o777);
    add(&mut t, b"/tmp", TNode::Dir(Default::default()), 0o1777);
    add(&mut t, b"/usr/lib/a", TNode::File(b"A".to_vec()), 0o644);
    let mut bytes = Vec::new();
    vfs_pack::write(&t, &mut bytes).unwrap();
    Image::parse(Box::leak(bytes.into_boxed_slice())).unwrap()
}

pub fn setup() -> (Vfs, TestPlatform) {
    let mut p = TestPlatform::default();
    let vfs = Vfs::new(image(), &mut p);
    (vfs, p)
}

const CWD: i64 = at::FDCWD as i64;

fn read_all(v: &mut Vfs, p: &mut TestPlatform, path: &str) -> SysResult<Vec<u8>> {
    let fd = v.open(p, &NoProc, CWD, path.as_bytes(), o::RDONLY, 0)?;
    let f = v.fds.get(i64::from(fd))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = f.borrow_mut().read(&v.image, p, &mut buf, None)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    v.fds.close(i64::from(fd), p)?;
    Ok(out)
}

fn write_file(
    v: &mut Vfs,
    p: &mut TestPlatform,
    path: &str,
    flags: u32,
    data: &[u8],
) -> SysResult<()> {
    let fd = v.open(p, &NoProc, CWD, path.as_bytes(), o::WRONLY | flags, 0o644)?;
    let f = v.fds.get(i64::from(fd))?;
    f.borrow_mut().write(p, data, None, Timespec::default())?;
    v.fds.close(i64::from(fd), p)
}

fn names(v: &mut Vfs, p: &mut TestPlatform, path: &str) -> Vec<String> {
    let fd = v
        .open(
            p,
            &NoProc,
            CWD,
            path.as_bytes(),
            o::RDONLY | o::DIRECTORY,
            0,
        )
        .unwrap();
    let mut out = Vec::new();
    loop {
        let buf = v.getdents(p, i64::from(fd), 64).unwrap();
        if buf.is_empty() {
            break;
        }
        let mut at = 0;
        while at < buf.len() {
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap();
            out.push(String::from_utf8(name[..end].to_vec()).unwrap());
            at += reclen;
        }
    }
    v.fds.close(i64::from(fd), p).unwrap();
    out
}

#[test]
fn resolution_follows_linux_semantics() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    assert_eq!(
        read_all(&mut v, p, "/etc/link").unwrap(),
        b"root:x:0:0:root:/root:/bin/sh\n"
    );
    assert_eq!(
        read_all(&mut v, p, "/etc/abs/../etc/./passwd")
            .unwrap()
            .len(),
        30
    );
    assert_eq!(read_all(&mut v, p, "/loop").unwrap_err(), ELOOP);
    assert_eq!(read_all(&mut v, p, "/etc/passwd/x").unwrap_err(), ENOTDIR);
    assert_eq!(read_all(&mut v, p, "/etc/passwd/").unwrap_err(), ENOTDIR);
    assert_eq!(read_all(&mut v, p, "/nope").unwrap_err(), ENOENT);
    assert_eq!(read_all(&mut v, p, "").unwrap_err(), ENOENT);
    let long = alloc::format!("/{}", "a".repeat(300));
    assert_eq!(read_all(&mut v, p, &long).unwrap_err(), ENAMETOOLONG);
    let w = v.walk(p, &[], b"/bin/sh", false).unwrap();
    assert_eq!(w.node().kind(), Kind::Symlink);
    assert_eq!(
        v.walk(p, &[], b"/bin/sh", true).unwrap().names,
        [b"bin".to_vec(), b"busybox".to_vec()]
    );
    v.chdir(p, b"/usr/lib").unwrap();
    assert_eq!(read_all(&mut v, p, "a").unwrap(), b"A");
    assert_eq!(read_all(&mut v, p, "../../etc/passwd").unwrap().len(), 30);
    assert_eq!(v.chdir(p, b"/etc/passwd"), Err(ENOTDIR));
    assert_eq!(path_string(&v.cwd), b"/usr/lib");
}

#[test]
fn overlay_writes_copy_up_and_whiteouts() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    // Copy-up on write keeps the image untouched for other readers of the data.
    write_file(&mut v, p, "/etc/passwd", o::APPEND, b"x\n").unwrap();
    assert!(
        read_all(&mut v, p, "/etc/passwd")
            .unwrap()
            .ends_with(b"/bin/sh\nx\n")
    );
    write_file(&mut v, p, "/etc/passwd", o::TRUNC, b"new").unwrap();
    assert_eq!(read_all(&mut v, p, "/etc/link").unwrap(), b"new");
    // Create, exclusive create, mkdir, listing merges both layers.
    write_file(&mut v, p, "/tmp/f", o::CREAT, b"hello").unwrap();
    assert_eq!(
        write_file(&mut v, p, "/tmp/f", o::CREAT | o::EXCL, b""),
        Err(EEXIST)
    );
    v.mkdir(p, CWD, b"/usr/lib/d", 0o755).unwrap();
    assert_eq!(names(&mut v, p, "/usr/lib"), [".", "..", "a", "d"]);
    // Unlinking an image file leaves a whiteout.
    v.unlink(p, CWD, b"/usr/lib/a").unwrap();
    assert_eq!(read_all(&mut v, p, "/usr/lib/a").unwrap_err(), ENOENT);
    assert_eq!(names(&mut v, p, "/usr/lib"), [".", "..", "d"]);
    assert_eq!(v.rmdir(p, CWD, b"/usr"), Err(ENOTEMPTY));
    assert_eq!(v.unlink(p, CWD, b"/usr/lib/d"), Err(EISDIR));
    v.rmdir(p, CWD, b"/usr/lib/d").unwrap();
    v.rmdir(p, CWD, b"/usr/lib").unwrap();
    v.rmdir(p, CWD, b"/usr").unwrap();
    assert!(!names(&mut v, p, "/").contains(&String::from("usr")));
    // Recreating over a whiteout gives an empty (opaque) directory.
    v.mkdir(p, CWD, b"/usr", 0o755).unwrap();
    assert_eq!(names(&mut v, p, "/usr"), [".", ".."]);
    assert_eq!(v.mkdir(p, CWD, b"/usr", 0o755), Err(EEXIST));
}

#[test]
fn rename_link_and_symlink() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    // Renaming an image directory keeps its contents.
    v.rename(p, CWD, b"/usr/lib", CWD, b"/tmp/lib2", 0).unwrap();
    assert_eq!(read_all(&mut v, p, "/tmp/lib2/a").unwrap(), b"A");
    assert_eq!(read_all(&mut v, p, "/usr/lib/a").unwrap_err(), ENOENT);
    assert_eq!(
        v.rename(p, CWD, b"/tmp", CWD, b"/tmp/lib2/x", 0),
        Err(EINVAL)
    );
    write_file(&mut v, p, "/tmp/f", o::CREAT, b"1").unwrap();
    v.link(p, CWD, b"/tmp/f", CWD, b"/tmp/g", false).unwrap();
    write_file(&mut v, p, "/tmp/g", o::APPEND, b"2").unwrap();
    assert_eq!(read_all(&mut v, p, "/tmp/f").unwrap(), b"12");
    let w = v.walk(p, &[], b"/tmp/f", true).unwrap();
    assert_eq!(v.stat(w.node()).nlink, 2);
    v.rename(p, CWD, b"/tmp/g", CWD, b"/tmp/f", 0).unwrap();
    // Hard links to one inode: rename does nothing, as on Linux.
    assert_eq!(names(&mut v, p, "/tmp"), [".", "..", "f", "g", "lib2"]);
    v.symlink(p, b"f", CWD, b"/tmp/s").unwrap();
    assert_eq!(read_all(&mut v, p, "/tmp/s").unwrap(), b"12");
    assert_eq!(
        v.rename(p, CWD, b"/tmp/f", CWD, b"/tmp/lib2", 0),
        Err(EISDIR)
    );
    assert_eq!(
        v.rename(p, CWD, b"/tmp/s", CWD, b"/tmp/f", at::RENAME_NOREPLACE),
        Err(EEXIST)
    );
    // A file unlinked while open stays readable through its fd.
    let fd = v.open(p, &NoProc, CWD, b"/tmp/f", o::RDONLY, 0).unwrap();
    v.unlink(p, CWD, b"/tmp/f").unwrap();
    let mut buf = [0u8; 4];
    let f = v.fds.get(i64::from(fd)).unwrap();
    assert_eq!(f.borrow_mut().read(&v.image, p, &mut buf, None), Ok(2));
}

#[test]
fn dev_and_proc_are_synthesized() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    v.exe = b"/bin/busybox".to_vec();
    assert_eq!(read_all(&mut v, p, "/dev/null").unwrap(), b"");
    write_file(&mut v, p, "/dev/null", 0, b"gone").unwrap();
    assert_eq!(write_file(&mut v, p, "/dev/full", 0, b"x"), Err(ENOSPC));
    let fd = v.open(p, &NoProc, CWD, b"/dev/zero", o::RDONLY, 0).unwrap();
    let mut buf = [1u8; 8];
    v.fds
        .get(i64::from(fd))
        .unwrap()
        .borrow_mut()
        .read(&v.image, p, &mut buf, None)
        .unwrap();
    assert_eq!(buf, [0; 8]);
    let exe = v.walk(p, &[], b"/proc/self/exe", false).unwrap();
    assert_eq!(v.readlink_node(exe.node()).unwrap(), b"/bin/busybox");
    assert_eq!(
        read_all(&mut v, p, "/proc/self/exe").unwrap(),
        b"\x7fELF..."
    );
    let fdlink = v
        .walk(
            p,
            &[],
            alloc::format!("/proc/self/fd/{fd}").as_bytes(),
            false,
        )
        .unwrap();
    assert_eq!(v.readlink_node(fdlink.node()).unwrap(), b"/dev/zero");
    assert!(
        read_all(&mut v, p, "/proc/cpuinfo")
            .unwrap()
            .starts_with(b"processor")
    );
    assert!(
        read_all(&mut v, p, "/proc/self/maps")
            .unwrap()
            .ends_with(b"/bin/x\n")
    );
    assert!(names(&mut v, p, "/dev").contains(&String::from("urandom")));
    assert!(names(&mut v, p, "/").contains(&String::from("proc")));
    assert_eq!(
        v.stat(v.walk(p, &[], b"/dev/null", true).unwrap().node())
            .rdev,
        makedev(1, 3)
    );
    assert_eq!(write_file(&mut v, p, "/proc/cpuinfo", 0, b""), Err(EACCES));
}

#[test]
fn host_mounts_go_through_the_platform() {
    let mut p = TestPlatform {
        mount: Some(b"/data".to_vec()),
        ..TestPlatform::default()
    };
    p.host.insert(b"in.txt".to_vec(), Some(b"host".to_vec()));
    let mut v = Vfs::new(image(), &mut p);
    let p = &mut p;
    assert_eq!(read_all(&mut v, p, "/data/in.txt").unwrap(), b"host");
    write_file(&mut v, p, "/data/out.txt", o::CREAT, b"written").unwrap();
    assert_eq!(
        p.host.get(&b"out.txt"[..]),
        Some(&Some(b"written".to_vec()))
    );
    v.mkdir(p, CWD, b"/data/sub", 0o755).unwrap();
    assert_eq!(
        names(&mut v, p, "/data"),
        [".", "..", "in.txt", "out.txt", "sub"]
    );
    assert!(names(&mut v, p, "/").contains(&String::from("data")));
    v.unlink(p, CWD, b"/data/in.txt").unwrap();
    assert_eq!(read_all(&mut v, p, "/data/in.txt").unwrap_err(), ENOENT);
    assert_eq!(
        v.rename(p, CWD, b"/data/out.txt", CWD, b"/tmp/x", 0),
        Err(EXDEV)
    );
}

#[test]
fn create_with_trunc_in_image_dir() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    let fd = v.open(p, &NoProc, CWD, b"/tmp/x", 0x241, 0o666).unwrap();
    assert_eq!(fd, 0);
}

#[test]
fn dev_stdout_reopens_the_descriptor() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    let out = file::OpenFile::new(FileKind::Stdio(1), o::WRONLY, Vec::new());
    assert_eq!(v.fds.install(out, false).unwrap(), 0);
    let fd = v
        .open(p, &NoProc, CWD, b"/dev/stdin", o::WRONLY, 0)
        .unwrap();
    let f = v.fds.get(i64::from(fd)).unwrap();
    f.borrow_mut()
        .write(p, b"via magic link", None, Timespec::default())
        .unwrap();
    assert_eq!(p.stdout, b"via magic link");
    let link = v.walk(p, &[], b"/proc/self/fd/0", false).unwrap();
    assert_eq!(v.readlink(p, link.node()).unwrap(), b"pipe:[4026531841]");
}

#[test]
fn creating_through_a_dangling_symlink_creates_its_target() {
    let (mut v, mut p) = setup();
    let p = &mut p;
    v.symlink(p, b"../tmp/target", CWD, b"/etc/dangling")
        .unwrap();
    write_file(&mut v, p, "/etc/dangling", o::CREAT, b"t").unwrap();
    assert_eq!(read_all(&mut v, p, "/tmp/target").unwrap(), b"t");
    v.symlink(p, b"/nowhere/x", CWD, b"/etc/bad").unwrap();
    assert_eq!(
        write_file(&mut v, p, "/etc/bad", o::CREAT, b""),
        Err(ENOENT)
    );
    assert_eq!(
        write_file(&mut v, p, "/etc/bad", o::CREAT | o::EXCL, b""),
        Err(EEXIST)
    );
}
