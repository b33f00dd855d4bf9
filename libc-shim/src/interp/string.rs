//! String instructions movs/stos/lods/scas/cmps with rep/repe/repne and DF. Each iteration
//! commits rsi/rdi/rcx, so a fault in the middle of a `rep` leaves the registers where hardware
//! leaves them and the instruction restarts from there. Forward `rep movs`/`rep stos` copy a
//! page-bounded chunk at a time.

use iced_x86::{Mnemonic as M, OpKind};

use super::flags::SUB;
use super::operand::{Ctx, Step};
use crate::mem::{PAGE, perm};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Movs,
    Stos,
    Lods,
    Scas,
    Cmps,
}

fn classify(m: M) -> (Kind, u32) {
    use M::*;
    match m {
        Movsb => (Kind::Movs, 1),
        Movsw => (Kind::Movs, 2),
        Movsd => (Kind::Movs, 4),
        Movsq => (Kind::Movs, 8),
        Stosb => (Kind::Stos, 1),
        Stosw => (Kind::Stos, 2),
        Stosd => (Kind::Stos, 4),
        Stosq => (Kind::Stos, 8),
        Lodsb => (Kind::Lods, 1),
        Lodsw => (Kind::Lods, 2),
        Lodsd => (Kind::Lods, 4),
        Lodsq => (Kind::Lods, 8),
        Scasb => (Kind::Scas, 1),
        Scasw => (Kind::Scas, 2),
        Scasd => (Kind::Scas, 4),
        Scasq => (Kind::Scas, 8),
        Cmpsb => (Kind::Cmps, 1),
        Cmpsw => (Kind::Cmps, 2),
        Cmpsd => (Kind::Cmps, 4),
        _ => (Kind::Cmps, 8),
    }
}

/// Register and address arithmetic of one string instruction.
struct Regs {
    /// Address mask: 32-bit with an 0x67 prefix.
    am: u64,
    step: u64,
    size: u32,
    seg: u64,
}

impl Regs {
    fn adv(&self, r: u64) -> u64 {
        r.wrapping_add(self.step) & self.am
    }
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    let (kind, size) = classify(m);
    let a32 = (0..c.ins.op_count())
        .any(|i| matches!(c.ins.op_kind(i), OpKind::MemorySegESI | OpKind::MemoryESEDI));
    let r = Regs {
        am: if a32 { 0xffff_ffff } else { u64::MAX },
        step: if c.cpu.flags.df() {
            (size as u64).wrapping_neg()
        } else {
            size as u64
        },
        size,
        seg: c.seg_base(),
    };
    let repne = c.ins.has_repne_prefix();
    if !(c.ins.has_rep_prefix() || repne) {
        return one(c, kind, &r);
    }
    let compare = matches!(kind, Kind::Scas | Kind::Cmps);
    while c.cpu.gpr[1] & r.am != 0 {
        if !compare && !c.cpu.flags.df() && !a32 && bulk(c, kind, &r)? {
            continue;
        }
        one(c, kind, &r)?;
        c.cpu.gpr[1] = c.cpu.gpr[1].wrapping_sub(1) & r.am;
        if compare && c.cpu.flags.zf() == repne {
            break;
        }
    }
    Ok(())
}

/// One iteration.
fn one(c: &mut Ctx, kind: Kind, r: &Regs) -> Step {
    let (si, di) = (c.cpu.gpr[6] & r.am, c.cpu.gpr[7] & r.am);
    let size = r.size;
    match kind {
        Kind::Movs => {
            let v = c.read_mem(si.wrapping_add(r.seg), size)?;
            c.write_mem(di, size, v)?;
            c.cpu.gpr[6] = r.adv(si);
            c.cpu.gpr[7] = r.adv(di);
        }
        Kind::Stos => {
            let v = c.cpu.gpr[0];
            c.write_mem(di, size, v)?;
            c.cpu.gpr[7] = r.adv(di);
        }
        Kind::Lods => {
            let v = c.read_mem(si.wrapping_add(r.seg), size)?;
            set_acc(c, size, v);
            c.cpu.gpr[6] = r.adv(si);
        }
        Kind::Scas => {
            let a = c.cpu.gpr[0];
            let b = c.read_mem(di, size)?;
            c.cpu.gpr[7] = r.adv(di);
            c.cpu.flags.set(SUB, size, a.wrapping_sub(b), a, b, false);
        }
        Kind::Cmps => {
            let a = c.read_mem(si.wrapping_add(r.seg), size)?;
            let b = c.read_mem(di, size)?;
            c.cpu.gpr[6] = r.adv(si);
            c.cpu.gpr[7] = r.adv(di);
            c.cpu.flags.set(SUB, size, a.wrapping_sub(b), a, b, false);
        }
    }
    Ok(())
}

fn set_acc(c: &mut Ctx, size: u32, v: u64) {
    let g = &mut c.cpu.gpr[0];
    *g = match size {
        1 => (*g & !0xff) | v,
        2 => (*g & !0xffff) | v,
        _ => v,
    };
}

/// Forward rep movs/stos over whole elements up to the next page boundary of either pointer.
/// Returns false (nothing done) when the fast path does not apply.
fn bulk(c: &mut Ctx, kind: Kind, r: &Regs) -> Result<bool, super::Exit> {
    let size = r.size as u64;
    let di = c.cpu.gpr[7];
    let si = c.cpu.gpr[6].wrapping_add(r.seg);
    let mut room = PAGE - di % PAGE;
    if kind == Kind::Movs {
        room = room.min(PAGE - si % PAGE);
    }
    let n = (room / size).min(c.cpu.gpr[1]);
    if n < 2 {
        return Ok(false);
    }
    let len = n * size;
    let Ok(dst) = c.mem.check(di, len, perm::WRITE) else {
        return Ok(false);
    };
    let base = c.mem.base();
    if kind == Kind::Movs {
        // Overlap with the destination ahead of the source replicates data: not a memmove.
        if di > si && di < si.wrapping_add(len) {
            return Ok(false);
        }
        let Ok(src) = c.mem.check(si, len, perm::READ) else {
            return Ok(false);
        };
        // SAFETY: both ranges were checked to lie inside the guest window; `ptr::copy` allows
        // overlap, and with the destination not ahead of the source it equals a forward copy.
        unsafe { core::ptr::copy(base.add(src), base.add(dst), len as usize) };
        c.cpu.gpr[6] = c.cpu.gpr[6].wrapping_add(len);
    } else {
        let pat = c.cpu.gpr[0].to_le_bytes();
        // SAFETY: the destination range was checked writable and inside the guest window.
        let out = unsafe { core::slice::from_raw_parts_mut(base.add(dst), len as usize) };
        // A fill, not a copy per element (which compiles to one `memory.copy` call each).
        if size == 1 {
            out.fill(pat[0]);
        } else {
            let mut word = [0u8; 8];
            for (i, b) in word.iter_mut().enumerate() {
                *b = pat[i % size as usize];
            }
            let mut words = out.chunks_exact_mut(8);
            for w in &mut words {
                w.copy_from_slice(&word);
            }
            let rest = words.into_remainder();
            rest.copy_from_slice(&word[..rest.len()]);
        }
    }
    c.cpu.gpr[7] = di.wrapping_add(len);
    c.cpu.gpr[1] -= n;
    Ok(true)
}
