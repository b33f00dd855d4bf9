//! The guest memory manager: which guest addresses are mapped, with what protection, and where
//! new mappings go; `brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`, and the stack.
//!
//! Layout (guest addresses, all below the window's limit `4 GiB - guest_base` on wasm32): the
//! executable at its link address (ET_EXEC, typically 0x400000) or at [`EXE_BASE`] (PIE); the
//! `brk` heap right after it, up to [`BRK_RESERVE`] bytes; then the mmap area, filled first-fit
//! from low to high, which holds the dynamic loader, the stack (with an unmapped guard page below
//! it so that unbounded recursion faults) and every `mmap`. Low addresses keep linear memory
//! compact: it is grown ([`Grow`]) only up to the highest mapped page. Page 0 is never mapped.
//!
//! [`GuestMem`] holds the per-page permissions every access is checked against; the mapping list
//! here ([`Vma`]s) adds what `/proc/self/maps` shows and what placement needs (a `PROT_NONE`
//! mapping is still reserved). Ranges whose code may have changed are queued in
//! [`Mm::take_changed`] for the interpreter's decoded-instruction cache.

use crate::abi::{mm::*, *};
use crate::fs::synth::ProcSource;
use crate::mem::{GuestMem, PAGE, perm};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

/// Where a position-independent executable is loaded.
pub const EXE_BASE: u64 = 0x40_0000;
/// Room left for `brk` after the executable before the mmap area starts.
pub const BRK_RESERVE: u64 = 16 << 20;
/// Default stack size (`RLIMIT_STACK`).
pub const STACK_SIZE: u64 = 8 << 20;

/// Grows the linear memory behind the guest window.
pub trait Grow {
    /// Makes guest addresses below `end` exist in `mem` (growing linear memory and the window);
    /// false if that is impossible.
    fn grow_to(&mut self, mem: &mut GuestMem, end: u64) -> bool;
}

/// A window of fixed size (host tests): growing succeeds within it.
#[derive(Debug, Default)]
pub struct FixedWindow;

impl Grow for FixedWindow {
    fn grow_to(&mut self, mem: &mut GuestMem, end: u64) -> bool {
        end <= mem.len()
    }
}

/// Linear memory 0 on wasm32, with the guest window from `guest_base` to its end.
#[cfg(target_arch = "wasm32")]
#[derive(Debug)]
pub struct LinearMemory {
    pub guest_base: u64,
}

#[cfg(target_arch = "wasm32")]
impl Grow for LinearMemory {
    fn grow_to(&mut self, mem: &mut GuestMem, end: u64) -> bool {
        const WASM_PAGE: u64 = 65536;
        let need = self.guest_base + end;
        if need > 1 << 32 {
            return false;
        }
        let cur = core::arch::wasm32::memory_size(0) as u64 * WASM_PAGE;
        if need > cur {
            let pages = (need - cur).div_ceil(WASM_PAGE) as usize;
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return false;
            }
        }
        let size = core::arch::wasm32::memory_size(0) as u64 * WASM_PAGE;
        // SAFETY: linear memory now extends to `size`, so the window `[guest_base, size)` is
        // valid; the runtime touches guest memory only through `mem`.
        unsafe { mem.set_len(size - self.guest_base) };
        true
    }
}

/// One mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    /// `PROT_*` bits.
    pub prot: u64,
    /// File offset of the start, for file mappings.
    pub offset: u64,
    /// What `/proc/self/maps` names it: a path, `[heap]`, `[stack]`, or empty.
    pub name: Vec<u8>,
}

/// Page permissions for `PROT_*` bits: on x86 every mapped, accessible page is readable.
pub fn prot_perm(prot: u64) -> u8 {
    let mut p = 0;
    if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        p |= perm::READ;
    }
    if prot & PROT_WRITE != 0 {
        p |= perm::WRITE;
    }
    if prot & PROT_EXEC != 0 {
        p |= perm::EXEC;
    }
    p
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

/// The address space.
pub struct Mm {
    vmas: BTreeMap<u64, Vma>,
    grow: alloc::boxed::Box<dyn Grow>,
    /// Highest guest address + 1 that may ever be mapped.
    pub limit: u64,
    pub brk_start: u64,
    pub brk: u64,
    /// Start of the mmap area (the end of the `brk` reserve).
    pub mmap_base: u64,
    changed: Vec<(u64, u64)>,
}

impl core::fmt::Debug for Mm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mm")
            .field("vmas", &self.vmas)
            .field("brk", &self.brk)
            .finish()
    }
}

impl Mm {
    pub fn new(grow: alloc::boxed::Box<dyn Grow>, limit: u64) -> Mm {
        Mm {
            vmas: BTreeMap::new(),
            grow,
            limit,
            brk_start: 0,
            brk: 0,
            mmap_base: EXE_BASE,
            changed: Vec::new(),
        }
    }

    /// Starts the `brk` heap at `end` (the page-aligned end of the executable).
    pub fn set_brk_start(&mut self, end: u64) {
        self.brk_start = page_up(end).unwrap_or(end);
        self.brk = self.brk_start;
        self.mmap_base = self.mmap_base.max(self.brk_start + BRK_RESERVE);
    }

    /// Keeps guest addresses below `end` out of every mapping (memory that belongs to someone
    /// else: it is neither zeroed nor made accessible).
    pub fn reserve(&mut self, end: u64) {
        let end = end.div_ceil(PAGE) * PAGE;
        if end > 0 {
            self.vmas.insert(
                0,
                Vma {
                    end,
                    prot: 0,
                    offset: 0,
                    name: b"[runtime]".to_vec(),
                },
            );
        }
    }

    /// Ranges unmapped or re-protected since the last call (for the decoded-code cache).
    pub fn take_changed(&mut self) -> Vec<(u64, u64)> {
        core::mem::take(&mut self.changed)
    }

    pub fn vmas(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.vmas.iter().map(|(&s, v)| (s, v))
    }

    /// Whether any page of `[start, end)` is mapped.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// Whether `[start, end)` overlaps memory kept out of the guest's reach ([`Mm::reserve`]).
    fn touches_reserved(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .any(|(_, v)| v.end > start && v.name == b"[runtime]")
    }

    /// Removes `[start, end)` from the mapping list, splitting mappings at the edges.
    fn carve(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = self
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            let Some(v) = self.vmas.remove(&k) else {
                continue;
            };
            if k < start {
                self.vmas.insert(
                    k,
                    Vma {
                        end: start,
                        ..v.clone()
                    },
                );
            }
            if v.end > end {
                let offset = v.offset + (end - k);
                self.vmas.insert(end, Vma { offset, ..v });
            }
        }
    }

    /// Merges mappings around `[start, end)` with their neighbours when they continue each other
    /// (same protection and name, and for files the next file offset), as Linux does.
    fn merge(&mut self, start: u64, end: u64) {
        let first = self
            .vmas
            .range(..start)
            .next_back()
            .map_or(start, |(&k, _)| k);
        let keys: Vec<u64> = self.vmas.range(first..=end).map(|(&k, _)| k).collect();
        let mut cur = None::<u64>;
        for k in keys {
            if let Some(c) = cur
                && let (Some(a), Some(b)) = (self.vmas.get(&c), self.vmas.get(&k))
            {
                let anon = a.name.is_empty() || a.name.starts_with(b"[");
                if a.end == k
                    && a.prot == b.prot
                    && a.name == b.name
                    && (anon || b.offset == a.offset + (a.end - c))
                {
                    let end = b.end;
                    self.vmas.remove(&k);
                    if let Some(a) = self.vmas.get_mut(&c) {
                        a.end = end;
                    }
                    continue;
                }
            }
            cur = Some(k);
        }
    }

    /// Writes `bytes` at `addr` regardless of page permissions (the kernel filling a mapping).
    pub fn poke(&mut self, mem: &mut GuestMem, addr: u64, bytes: &[u8]) -> SysResult<()> {
        let end = addr
            .checked_add(bytes.len() as u64)
            .filter(|&e| e <= mem.len())
            .ok_or(EFAULT)?;
        let _ = end;
        // SAFETY: `[addr, addr + len)` lies inside the window, valid by `GuestMem::new`'s contract;
        // no reference into guest memory is live during a syscall.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                mem.base().add(addr as usize),
                bytes.len(),
            )
        };
        Ok(())
    }

    /// Zeroes `[addr, addr + len)` regardless of page permissions.
    fn zero(mem: &mut GuestMem, addr: u64, len: u64) {
        if addr.checked_add(len).is_some_and(|e| e <= mem.len()) {
            // SAFETY: the range lies inside the window (checked above), valid by its contract.
            unsafe { core::ptr::write_bytes(mem.base().add(addr as usize), 0, len as usize) };
        }
    }

    /// Maps `[addr, addr + len)` (page-aligned) fresh and zeroed, replacing what was there.
    pub fn map_fixed(
        &mut self,
        mem: &mut GuestMem,
        addr: u64,
        len: u64,
        prot: u64,
        name: &[u8],
        offset: u64,
    ) -> SysResult<()> {
        let end = addr
            .checked_add(len)
            .filter(|&e| e <= self.limit && addr >= PAGE)
            .ok_or(ENOMEM)?;
        if self.touches_reserved(addr, end) {
            return Err(ENOMEM);
        }
        if mem.len() < end && !self.grow.grow_to(mem, end) {
            return Err(ENOMEM);
        }
        if self.overlaps(addr, end) {
            self.changed.push((addr, len));
        }
        self.carve(addr, end);
        self.vmas.insert(
            addr,
            Vma {
                end,
                prot,
                offset,
                name: name.to_vec(),
            },
        );
        self.merge(addr, end);
        Mm::zero(mem, addr, len);
        mem.protect(addr, len, prot_perm(prot)).map_err(|_| ENOMEM)
    }

    /// The lowest free range of `len` bytes at or above `from` in the mmap area.
    pub fn find_free(&self, from: u64, len: u64) -> SysResult<u64> {
        let mut at = from.max(self.mmap_base);
        for (&s, v) in self.vmas.range(..) {
            if v.end <= at {
                continue;
            }
            if s >= at && s - at >= len {
                break;
            }
            at = at.max(v.end);
        }
        at.checked_add(len)
            .filter(|&e| e <= self.limit)
            .map(|_| at)
            .ok_or(ENOMEM)
    }

    /// `mmap` of anonymous memory or of a private copy of `file` bytes (from `file[offset..]`).
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        mem: &mut GuestMem,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        file: Option<(&[u8], &[u8])>,
        offset: u64,
    ) -> SysResult<u64> {
        if len == 0 || !addr.is_multiple_of(PAGE) || !offset.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        if flags & (MAP_PRIVATE | MAP_SHARED) == 0 {
            return Err(EINVAL);
        }
        let len = page_up(len).ok_or(ENOMEM)?;
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let end = addr.checked_add(len).ok_or(ENOMEM)?;
        let at = if fixed {
            if flags & MAP_FIXED_NOREPLACE != 0 && self.overlaps(addr, end) {
                return Err(EEXIST);
            }
            addr
        } else if addr != 0
            && addr >= self.mmap_base
            && end <= self.limit
            && !self.overlaps(addr, end)
        {
            addr
        } else {
            self.find_free(0, len)?
        };
        let name = file.map_or(&b""[..], |(path, _)| path);
        self.map_fixed(mem, at, len, prot, name, offset)?;
        if let Some((_, data)) = file {
            let start = (offset as usize).min(data.len());
            let n = (data.len() - start).min(len as usize);
            self.poke(mem, at, &data[start..start + n])?;
        }
        Ok(at)
    }

    /// `munmap`.
    pub fn munmap(&mut self, mem: &mut GuestMem, addr: u64, len: u64) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(EINVAL)?;
        let end = end.min(self.limit);
        if addr >= end {
            return Ok(());
        }
        if self.touches_reserved(addr, end) {
            return Err(EINVAL);
        }
        self.carve(addr, end);
        self.changed.push((addr, end - addr));
        let top = end.min(mem.len());
        if addr < top {
            mem.protect(addr, top - addr, 0).map_err(|_| EINVAL)?;
        }
        Ok(())
    }

    /// `mprotect`: every page of the range must be mapped.
    pub fn mprotect(
        &mut self,
        mem: &mut GuestMem,
        addr: u64,
        len: u64,
        prot: u64,
    ) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(ENOMEM)?;
        if self.touches_reserved(addr, end) {
            return Err(ENOMEM);
        }
        let pieces: Vec<(u64, Vma)> = self
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > addr)
            .map(|(&k, v)| (k, v.clone()))
            .collect();
        let mut expect = addr;
        for (k, v) in &pieces {
            if *k > expect {
                return Err(ENOMEM);
            }
            expect = v.end;
        }
        if expect < end {
            return Err(ENOMEM);
        }
        self.carve(addr, end);
        for (k, v) in pieces {
            let (s, e) = (k.max(addr), v.end.min(end));
            self.vmas.insert(
                s,
                Vma {
                    end: e,
                    prot,
                    offset: v.offset + (s - k),
                    name: v.name,
                },
            );
        }
        self.merge(addr, end);
        self.changed.push((addr, end - addr));
        mem.protect(addr, end - addr, prot_perm(prot))
            .map_err(|_| ENOMEM)
    }

    /// `madvise`: `MADV_DONTNEED` zeroes private anonymous memory as Linux does.
    pub fn madvise(
        &mut self,
        mem: &mut GuestMem,
        addr: u64,
        len: u64,
        advice: u64,
    ) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let len = page_up(len).ok_or(EINVAL)?;
        if advice == MADV_DONTNEED {
            let keys: Vec<(u64, u64)> = self
                .vmas
                .range(..addr + len)
                .filter(|(_, v)| v.end > addr)
                .map(|(&k, v)| (k.max(addr), v.end.min(addr + len)))
                .collect();
            for (s, e) in keys {
                Mm::zero(mem, s, e - s);
            }
        }
        Ok(())
    }

    /// `mremap`: grows or shrinks in place, or moves with `MREMAP_MAYMOVE`.
    pub fn mremap(
        &mut self,
        mem: &mut GuestMem,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
    ) -> SysResult<u64> {
        if !old.is_multiple_of(PAGE) || new_len == 0 || flags & MREMAP_FIXED != 0 {
            return Err(EINVAL);
        }
        let (old_len, new_len) = (
            page_up(old_len).ok_or(EINVAL)?,
            page_up(new_len).ok_or(ENOMEM)?,
        );
        let (&start, vma) = self
            .vmas
            .range(..=old)
            .next_back()
            .filter(|(_, v)| v.end >= old + old_len)
            .ok_or(EFAULT)?;
        let vma = vma.clone();
        let _ = start;
        if new_len <= old_len {
            if new_len < old_len {
                self.munmap(mem, old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(ENOMEM)?;
        if vma.end == old + old_len
            && grow_end <= self.limit
            && !self.overlaps(old + old_len, grow_end)
        {
            let extra = new_len - old_len;
            self.map_fixed(mem, old + old_len, extra, vma.prot, &vma.name, 0)?;
            // Merge with the original mapping.
            self.vmas.remove(&(old + old_len));
            if let Some((_, v)) = self.vmas.range_mut(..=old).next_back() {
                v.end = grow_end;
            }
            return Ok(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(ENOMEM);
        }
        let new = self.find_free(0, new_len)?;
        self.map_fixed(mem, new, new_len, vma.prot, &vma.name, vma.offset)?;
        let bytes = mem.slice(old, old_len, 0).map_err(|_| EFAULT)?.to_vec();
        self.poke(mem, new, &bytes)?;
        self.munmap(mem, old, old_len)?;
        Ok(new)
    }

    /// `brk`: moves the program break within its reserve; returns the (possibly unchanged) break.
    pub fn set_brk(&mut self, mem: &mut GuestMem, new: u64) -> u64 {
        if new < self.brk_start || new > self.mmap_base {
            return self.brk;
        }
        let (old_top, new_top) = (
            page_up(self.brk).unwrap_or(self.brk),
            page_up(new).unwrap_or(new),
        );
        if new_top > old_top {
            if self.overlaps(old_top, new_top)
                || self
                    .map_fixed(
                        mem,
                        old_top,
                        new_top - old_top,
                        PROT_READ | PROT_WRITE,
                        b"[heap]",
                        0,
                    )
                    .is_err()
            {
                return self.brk;
            }
        } else if new_top < old_top && self.munmap(mem, new_top, old_top - new_top).is_err() {
            return self.brk;
        }
        self.brk = new;
        self.brk
    }

    /// Maps a stack of `size` bytes with an unmapped guard page below; returns its top.
    pub fn map_stack(&mut self, mem: &mut GuestMem, size: u64) -> SysResult<u64> {
        let at = self.find_free(0, size + PAGE)?;
        self.map_fixed(mem, at, PAGE, 0, b"[stack guard]", 0)?;
        self.map_fixed(mem, at + PAGE, size, PROT_READ | PROT_WRITE, b"[stack]", 0)?;
        Ok(at + PAGE + size)
    }

    /// Bytes mapped.
    pub fn mapped(&self) -> u64 {
        self.vmas.iter().map(|(s, v)| v.end - s).sum()
    }
}

impl ProcSource for Mm {
    fn maps(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (s, v) in self.vmas() {
            if v.name == b"[stack guard]" || v.name == b"[runtime]" {
                continue;
            }
            let flag = |bit, c| if v.prot & bit != 0 { c } else { '-' };
            let line = format!(
                "{s:08x}-{:08x} {}{}{}p {:08x} 00:00 0",
                v.end,
                flag(PROT_READ, 'r'),
                flag(PROT_WRITE, 'w'),
                flag(PROT_EXEC, 'x'),
                v.offset
            );
            out.extend_from_slice(line.as_bytes());
            if !v.name.is_empty() {
                out.resize(out.len() + 73usize.saturating_sub(line.len()), b' ');
                out.extend_from_slice(&v.name);
            }
            out.push(b'\n');
        }
        out
    }

    fn memory(&self) -> (u64, u64) {
        (self.limit, self.mapped())
    }
}

#[cfg(test)]
mod tests;
