//! Memory syscalls over [`crate::mm::Mm`]. File mappings are private copies of the file's bytes
//! (`MAP_SHARED` of a file is copied too: writes through it do not reach the file).

use super::Ctx;
use crate::abi::{mm::*, *};
use crate::fs::file::FileKind;
use crate::fs::node::Body;
use alloc::vec;
use alloc::vec::Vec;

pub fn mmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    let (addr, len, prot, flags, fd, off) = (a[0], a[1], a[2], a[3], a[4] as i64 as i32, a[5]);
    if flags & MAP_ANONYMOUS != 0 || fd < 0 {
        if flags & MAP_ANONYMOUS == 0 {
            return Err(EBADF);
        }
        return ctx.proc.mm.mmap(ctx.mem, addr, len, prot, flags, None, 0);
    }
    let file = ctx.proc.vfs.fds.get(i64::from(fd))?;
    let f = file.borrow();
    if !f.readable() || (flags & MAP_SHARED != 0 && prot & PROT_WRITE != 0 && !f.writable()) {
        return Err(EACCES);
    }
    let owned: Vec<u8>;
    let data: &[u8] = match &f.kind {
        FileKind::Lower(i) => ctx.proc.vfs.image.file_data(i),
        FileKind::Upper(u) => {
            owned = match &u.borrow().body {
                Body::File(d) => d.clone(),
                _ => return Err(ENODEV),
            };
            &owned
        }
        FileKind::Host { fd, .. } => {
            let mut buf = vec![0u8; len as usize];
            let n = ctx.p.pread(*fd, &mut buf, off)?;
            buf.truncate(n);
            owned = [vec![0u8; off as usize].as_slice(), &buf].concat();
            &owned
        }
        FileKind::Dev(_) => &[],
        _ => return Err(ENODEV),
    };
    let path = f.path.clone();
    ctx.proc
        .mm
        .mmap(ctx.mem, addr, len, prot, flags, Some((&path, data)), off)
}

pub fn munmap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.mm.munmap(ctx.mem, a[0], a[1]).map(|()| 0)
}

pub fn mprotect(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc
        .mm
        .mprotect(ctx.mem, a[0], a[1], a[2] & 7)
        .map(|()| 0)
}

pub fn mremap(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.mm.mremap(ctx.mem, a[0], a[1], a[2], a[3])
}

pub fn madvise(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    ctx.proc.mm.madvise(ctx.mem, a[0], a[1], a[2]).map(|()| 0)
}

pub fn brk(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    Ok(ctx.proc.mm.set_brk(ctx.mem, a[0]))
}

pub fn msync(_ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !a[0].is_multiple_of(crate::mem::PAGE) {
        Err(EINVAL)
    } else {
        Ok(0)
    }
}

/// `mincore`: every mapped page is resident.
pub fn mincore(ctx: &mut Ctx<'_>, a: [u64; 6]) -> SysResult {
    if !a[0].is_multiple_of(crate::mem::PAGE) {
        return Err(EINVAL);
    }
    let pages = a[1].div_ceil(crate::mem::PAGE);
    for i in 0..pages {
        let addr = a[0] + i * crate::mem::PAGE;
        if !ctx.proc.mm.vmas().any(|(s, v)| s <= addr && addr < v.end) {
            return Err(ENOMEM);
        }
    }
    let ones = vec![1u8; pages as usize];
    ctx.write(a[2], &ones).map(|()| 0)
}
