//! Guest memory: guest address `g` lives at `base + g` in the runtime's linear memory (on wasm32,
//! `base` is `GUEST_BASE`; in host tests, a heap allocation), with 4 KiB page permissions.
//!
//! Every interpreter and syscall access goes through [`GuestMem`], which checks that each page it
//! touches is mapped with the needed permission. A failed check is a [`Fault`], which the caller
//! turns into SIGSEGV for the guest (or EFAULT for a syscall), never a host crash: page 0 is never
//! mapped, so a null dereference faults, and the stack has an unmapped guard below it.

use alloc::vec;
use alloc::vec::Vec;

/// Guest page size.
pub const PAGE: u64 = 4096;

/// Page permission bits.
pub mod perm {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;
    pub const RW: u8 = READ | WRITE;
    pub const RX: u8 = READ | EXEC;
    pub const RWX: u8 = READ | WRITE | EXEC;
}

/// A guest access that is not allowed: the address and whether it was a write (an instruction
/// fetch counts as a read of an executable page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
    pub write: bool,
}

/// Guest memory over a window of linear memory.
#[derive(Debug)]
pub struct GuestMem {
    base: *mut u8,
    /// Bytes of the window that exist (linear memory above `base`); pages beyond are unmapped.
    len: u64,
    /// Permission bits per page, for the pages below `len`.
    perms: Vec<u8>,
}

impl GuestMem {
    /// A window of `len` bytes at `base`, with every page unmapped.
    ///
    /// # Safety
    /// `base..base + len` must be valid for reads and writes for as long as this value lives, and
    /// nothing else may hold a reference into it while a method of this value runs.
    pub unsafe fn new(base: *mut u8, len: u64) -> GuestMem {
        GuestMem {
            base,
            len,
            perms: vec![0; len.div_ceil(PAGE) as usize],
        }
    }

    /// Grows the window after the linear memory behind it grew; new pages are unmapped.
    ///
    /// # Safety
    /// As for [`GuestMem::new`], for the new length.
    pub unsafe fn set_len(&mut self, len: u64) {
        self.len = len;
        self.perms.resize(len.div_ceil(PAGE) as usize, 0);
    }

    /// Bytes of the window.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The linear address of guest address 0.
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Sets the permissions of the pages covering `[addr, addr + len)` (0 unmaps them). Fails if
    /// the range is outside the window.
    pub fn protect(&mut self, addr: u64, len: u64, bits: u8) -> Result<(), Fault> {
        let end = addr
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or(Fault { addr, write: false })?;
        let (first, last) = ((addr / PAGE) as usize, end.div_ceil(PAGE) as usize);
        self.perms[first..last].fill(bits);
        Ok(())
    }

    /// The permissions of the page holding `addr` (0 if outside the window).
    pub fn perms_at(&self, addr: u64) -> u8 {
        self.perms.get((addr / PAGE) as usize).copied().unwrap_or(0)
    }

    /// Checks that `[addr, addr + len)` is accessible with `need` and returns its offset from `base`.
    #[inline]
    pub fn check(&self, addr: u64, len: u64, need: u8) -> Result<usize, Fault> {
        let write = need & perm::WRITE != 0;
        let fault = Fault { addr, write };
        if len == 0 {
            return Ok(addr.min(self.len) as usize);
        }
        let last = addr.checked_add(len - 1).ok_or(fault)?;
        let (first_page, last_page) = (addr / PAGE, last / PAGE);
        for page in first_page..=last_page {
            match self.perms.get(page as usize) {
                Some(&p) if p & need == need => {}
                _ => {
                    return Err(Fault {
                        addr: addr.max(page * PAGE),
                        write,
                    });
                }
            }
        }
        Ok(addr as usize)
    }

    /// A checked view of guest bytes.
    pub fn slice(&self, addr: u64, len: u64, need: u8) -> Result<&[u8], Fault> {
        let off = self.check(addr, len, need)?;
        // SAFETY: `check` proved the range lies inside the window, which `new`'s contract makes
        // valid; `&self` keeps `&mut self` methods from running while the slice lives.
        Ok(unsafe { core::slice::from_raw_parts(self.base.add(off), len as usize) })
    }

    /// A checked mutable view of guest bytes (needs write permission).
    pub fn slice_mut(&mut self, addr: u64, len: u64) -> Result<&mut [u8], Fault> {
        let off = self.check(addr, len, perm::WRITE)?;
        // SAFETY: as in `slice`, and `&mut self` makes the view exclusive.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.base.add(off), len as usize) })
    }

    /// Reads `N` bytes with permission `need`.
    #[inline]
    pub fn read_bytes<const N: usize>(&self, addr: u64, need: u8) -> Result<[u8; N], Fault> {
        let off = self.check(addr, N as u64, need)?;
        // SAFETY: `check` proved `[off, off + N)` is inside the window; unaligned read of bytes.
        Ok(unsafe { core::ptr::read_unaligned(self.base.add(off) as *const [u8; N]) })
    }

    /// Writes `N` bytes (needs write permission).
    #[inline]
    pub fn write_bytes<const N: usize>(&mut self, addr: u64, bytes: [u8; N]) -> Result<(), Fault> {
        let off = self.check(addr, N as u64, perm::WRITE)?;
        // SAFETY: `check` proved `[off, off + N)` is inside the window and writable.
        unsafe { core::ptr::write_unaligned(self.base.add(off) as *mut [u8; N], bytes) };
        Ok(())
    }

    pub fn read_u8(&self, addr: u64) -> Result<u8, Fault> {
        Ok(self.read_bytes::<1>(addr, perm::READ)?[0])
    }
    pub fn read_u16(&self, addr: u64) -> Result<u16, Fault> {
        Ok(u16::from_le_bytes(self.read_bytes(addr, perm::READ)?))
    }
    pub fn read_u32(&self, addr: u64) -> Result<u32, Fault> {
        Ok(u32::from_le_bytes(self.read_bytes(addr, perm::READ)?))
    }
    pub fn read_u64(&self, addr: u64) -> Result<u64, Fault> {
        Ok(u64::from_le_bytes(self.read_bytes(addr, perm::READ)?))
    }
    pub fn read_u128(&self, addr: u64) -> Result<u128, Fault> {
        Ok(u128::from_le_bytes(self.read_bytes(addr, perm::READ)?))
    }
    pub fn write_u8(&mut self, addr: u64, v: u8) -> Result<(), Fault> {
        self.write_bytes(addr, [v])
    }
    pub fn write_u16(&mut self, addr: u64, v: u16) -> Result<(), Fault> {
        self.write_bytes(addr, v.to_le_bytes())
    }
    pub fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), Fault> {
        self.write_bytes(addr, v.to_le_bytes())
    }
    pub fn write_u64(&mut self, addr: u64, v: u64) -> Result<(), Fault> {
        self.write_bytes(addr, v.to_le_bytes())
    }
    pub fn write_u128(&mut self, addr: u64, v: u128) -> Result<(), Fault> {
        self.write_bytes(addr, v.to_le_bytes())
    }
}

/// Guest memory backed by a host allocation, for tests on the host.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// Owns the allocation behind a [`GuestMem`].
    #[derive(Debug)]
    pub struct HostMem {
        _backing: Vec<u8>,
        pub mem: GuestMem,
    }

    /// `len` bytes of guest memory, all unmapped.
    pub fn host_mem(len: u64) -> HostMem {
        let mut backing = vec![0u8; len as usize];
        // SAFETY: the Vec lives as long as the GuestMem (same struct) and is never touched directly.
        let mem = unsafe { GuestMem::new(backing.as_mut_ptr(), len) };
        HostMem {
            _backing: backing,
            mem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::host_mem;
    use super::*;

    #[test]
    fn permissions_are_checked_per_page() {
        let mut h = host_mem(16 * PAGE);
        let m = &mut h.mem;
        assert_eq!(
            m.read_u8(0),
            Err(Fault {
                addr: 0,
                write: false
            })
        );
        m.protect(PAGE, 2 * PAGE, perm::RW).unwrap();
        m.write_u64(PAGE + 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_u32(PAGE + 8).unwrap(), 0x5566_7788);
        // Crossing into an unmapped page faults at that page.
        assert_eq!(
            m.read_u64(3 * PAGE - 4),
            Err(Fault {
                addr: 3 * PAGE,
                write: false
            })
        );
        m.protect(PAGE, PAGE, perm::READ).unwrap();
        assert_eq!(
            m.write_u8(PAGE, 1),
            Err(Fault {
                addr: PAGE,
                write: true
            })
        );
        assert!(m.protect(15 * PAGE, 2 * PAGE, perm::RW).is_err());
        assert!(m.read_u8(u64::MAX).is_err());
    }
}
