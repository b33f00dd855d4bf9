//! The decoded-instruction cache: a direct-mapped table keyed by guest address. Each entry keeps
//! the instruction's bytes, and a hit is only used if the bytes in guest memory still match (and
//! the page is still executable), so self-modifying code and remapped code stay correct without
//! watching writes.

use alloc::vec;
use alloc::vec::Vec;
use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};

use super::Exit;
use crate::mem::{Fault, GuestMem, PAGE, perm};

const SLOTS: usize = 1 << 14;
const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct Entry {
    addr: u64,
    /// The instruction's bytes, little-endian, zero above its length.
    bytes: u128,
    ins: Instruction,
}

/// Decoded instructions by address.
pub(crate) struct Cache {
    entries: Vec<Entry>,
}

#[inline]
fn slot(addr: u64) -> usize {
    ((addr ^ (addr >> 14)) as usize) & (SLOTS - 1)
}

#[inline]
fn len_mask(len: usize) -> u128 {
    (1u128 << (len * 8)) - 1
}

/// The current `len` code bytes at `addr` (which must be executable), as in [`Entry::bytes`].
#[inline]
fn code_bytes(mem: &GuestMem, addr: u64, len: usize) -> Result<u128, Fault> {
    let off = mem.check(addr, len as u64, perm::EXEC)?;
    if (off as u64).saturating_add(16) <= mem.len() {
        // SAFETY: `off + 16 <= mem.len()`, so the 16 bytes lie inside the window `GuestMem::new`
        // guarantees valid; an unaligned read of plain bytes.
        let v = unsafe { core::ptr::read_unaligned(mem.base().add(off) as *const u128) };
        return Ok(v & len_mask(len));
    }
    let s = mem.slice(addr, len as u64, perm::EXEC)?;
    let mut buf = [0u8; 16];
    buf[..len].copy_from_slice(s);
    Ok(u128::from_le_bytes(buf))
}

impl Cache {
    pub(crate) fn new() -> Cache {
        let empty = Entry {
            addr: EMPTY,
            bytes: 0,
            ins: Instruction::default(),
        };
        Cache {
            entries: vec![empty; SLOTS],
        }
    }

    /// The instruction at `rip`, decoded or from the cache.
    #[inline]
    pub(crate) fn fetch(&mut self, mem: &GuestMem, rip: u64) -> Result<&Instruction, Exit> {
        let i = slot(rip);
        let e = &self.entries[i];
        if e.addr == rip && code_bytes(mem, rip, e.ins.len()) == Ok(e.bytes) {
            return Ok(&self.entries[i].ins);
        }
        self.miss(mem, rip, i)
    }

    #[cold]
    fn miss(&mut self, mem: &GuestMem, rip: u64, i: usize) -> Result<&Instruction, Exit> {
        let mut buf = [0u8; 16];
        let mut have = 0usize;
        while have < 15 {
            let a = rip.wrapping_add(have as u64);
            let n = (15 - have).min((PAGE - a % PAGE) as usize);
            match mem.slice(a, n as u64, perm::EXEC) {
                Ok(s) => buf[have..have + n].copy_from_slice(s),
                Err(_) => break,
            }
            have += n;
        }
        if have == 0 {
            return Err(Fault {
                addr: rip,
                write: false,
            }
            .into());
        }
        let mut d = Decoder::with_ip(64, &buf[..have], rip, DecoderOptions::NONE);
        let ins = d.decode();
        if ins.is_invalid() {
            if d.last_error() == DecoderError::NoMoreBytes {
                let addr = rip.wrapping_add(have as u64);
                return Err(Fault { addr, write: false }.into());
            }
            return Err(Exit::InvalidOpcode);
        }
        let len = ins.len();
        self.entries[i] = Entry {
            addr: rip,
            bytes: u128::from_le_bytes(buf) & len_mask(len),
            ins,
        };
        Ok(&self.entries[i].ins)
    }

    /// Drops entries whose bytes overlap `[addr, addr + len)`.
    pub(crate) fn invalidate(&mut self, addr: u64, len: u64) {
        let end = addr.saturating_add(len);
        for e in &mut self.entries {
            if e.addr != EMPTY && e.addr < end && e.addr.saturating_add(e.ins.len() as u64) > addr {
                e.addr = EMPTY;
            }
        }
    }
}
