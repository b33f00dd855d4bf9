//! The execution context of one instruction and its operand access: general-purpose registers
//! with x86-64 partial-register rules, effective addresses (incl. RIP-relative and fs:/gs:
//! bases) and sized guest-memory reads and writes that turn page faults into [`Exit::Fault`].

use iced_x86::{Instruction, OpKind, Register};

use super::Exit;
use crate::cpu::Cpu;
use crate::mem::{Fault, GuestMem};

/// Result of executing one instruction: `Err` stops the run loop.
pub(crate) type Step = Result<(), Exit>;

/// What one instruction executes against.
pub(crate) struct Ctx<'a> {
    pub cpu: &'a mut Cpu,
    pub mem: &'a mut GuestMem,
    pub ins: &'a Instruction,
    /// Instructions executed so far (the time base of `rdtsc`).
    pub icount: u64,
}

impl From<Fault> for Exit {
    fn from(f: Fault) -> Exit {
        Exit::Fault {
            signal: 11,
            addr: f.addr,
            write: f.write,
        }
    }
}

/// Size in bytes of a general-purpose register (0 for other registers).
#[inline]
pub(crate) fn reg_size(r: Register) -> u32 {
    match r as u32 {
        1..=20 => 1,
        21..=36 => 2,
        37..=52 => 4,
        53..=68 => 8,
        _ => 0,
    }
}

/// Index in `Cpu::xmm` of an XMM register.
#[inline]
pub(crate) fn xmm_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::XMM0 as usize) & 15
}

impl Ctx<'_> {
    /// Reads a general-purpose register, zero-extended.
    #[inline]
    pub(crate) fn reg(&self, r: Register) -> u64 {
        let n = r as usize;
        let g = &self.cpu.gpr;
        match n {
            1..=4 => g[n - 1] & 0xff,
            5..=8 => (g[n - 5] >> 8) & 0xff,
            9..=20 => g[n - 5] & 0xff,
            21..=36 => g[n - 21] & 0xffff,
            37..=52 => g[n - 37] & 0xffff_ffff,
            53..=68 => g[n - 53],
            _ => 0,
        }
    }

    /// Writes a general-purpose register: 32-bit writes zero-extend, 8/16-bit writes merge.
    #[inline]
    pub(crate) fn set_reg(&mut self, r: Register, v: u64) {
        let n = r as usize;
        let g = &mut self.cpu.gpr;
        match n {
            1..=4 => g[n - 1] = (g[n - 1] & !0xff) | (v & 0xff),
            5..=8 => g[n - 5] = (g[n - 5] & !0xff00) | ((v & 0xff) << 8),
            9..=20 => g[n - 5] = (g[n - 5] & !0xff) | (v & 0xff),
            21..=36 => g[n - 21] = (g[n - 21] & !0xffff) | (v & 0xffff),
            37..=52 => g[n - 37] = v & 0xffff_ffff,
            53..=68 => g[n - 53] = v,
            _ => {}
        }
    }

    /// Effective address of the memory operand without a segment base (what `lea` computes).
    #[inline]
    pub(crate) fn lea(&self) -> u64 {
        let ins = self.ins;
        let mut a = ins.memory_displacement64();
        let base = ins.memory_base();
        let index = ins.memory_index();
        let mut narrow = false;
        if base != Register::None {
            match base {
                Register::RIP => {}
                Register::EIP => narrow = true,
                _ => {
                    narrow |= reg_size(base) == 4;
                    a = a.wrapping_add(self.reg(base));
                }
            }
        }
        if index != Register::None {
            narrow |= reg_size(index) == 4;
            a = a.wrapping_add(
                self.reg(index)
                    .wrapping_mul(ins.memory_index_scale() as u64),
            );
        }
        if narrow { a & 0xffff_ffff } else { a }
    }

    /// Linear address of the memory operand (fs:/gs: bases added).
    #[inline]
    pub(crate) fn ea(&self) -> u64 {
        self.lea().wrapping_add(self.seg_base())
    }

    /// The fs/gs base selected by a segment prefix (0 for the flat segments).
    #[inline]
    pub(crate) fn seg_base(&self) -> u64 {
        match self.ins.segment_prefix() {
            Register::FS => self.cpu.fs_base,
            Register::GS => self.cpu.gs_base,
            _ => 0,
        }
    }

    /// Size in bytes of operand `i` (register or memory; 0 for other kinds).
    #[inline]
    pub(crate) fn op_size(&self, i: u32) -> u32 {
        match self.ins.op_kind(i) {
            OpKind::Register => reg_size(self.ins.op_register(i)),
            OpKind::Memory => self.ins.memory_size().size() as u32,
            _ => 0,
        }
    }

    /// Reads operand `i` (register, memory or immediate), zero-extended from its size
    /// (immediates come sign-extended to 64 bits).
    #[inline]
    pub(crate) fn read_op(&self, i: u32) -> Result<u64, Exit> {
        match self.ins.op_kind(i) {
            OpKind::Register => Ok(self.reg(self.ins.op_register(i))),
            OpKind::Memory => self.read_mem(self.ea(), self.ins.memory_size().size() as u32),
            _ => Ok(self.ins.immediate(i)),
        }
    }

    /// Writes operand `i` (register or memory).
    #[inline]
    pub(crate) fn write_op(&mut self, i: u32, v: u64) -> Step {
        match self.ins.op_kind(i) {
            OpKind::Memory => {
                let size = self.ins.memory_size().size() as u32;
                self.write_mem(self.ea(), size, v)
            }
            _ => {
                self.set_reg(self.ins.op_register(i), v);
                Ok(())
            }
        }
    }

    /// Whether operand `i` is in memory.
    #[inline]
    pub(crate) fn is_mem(&self, i: u32) -> bool {
        self.ins.op_kind(i) == OpKind::Memory
    }

    /// Reads `size` (1, 2, 4, 8) bytes.
    #[inline]
    pub(crate) fn read_mem(&self, addr: u64, size: u32) -> Result<u64, Exit> {
        Ok(match size {
            1 => self.mem.read_u8(addr)? as u64,
            2 => self.mem.read_u16(addr)? as u64,
            4 => self.mem.read_u32(addr)? as u64,
            _ => self.mem.read_u64(addr)?,
        })
    }

    /// Writes the low `size` (1, 2, 4, 8) bytes of `v`.
    #[inline]
    pub(crate) fn write_mem(&mut self, addr: u64, size: u32, v: u64) -> Step {
        match size {
            1 => self.mem.write_u8(addr, v as u8)?,
            2 => self.mem.write_u16(addr, v as u16)?,
            4 => self.mem.write_u32(addr, v as u32)?,
            _ => self.mem.write_u64(addr, v)?,
        }
        Ok(())
    }

    /// Pushes `size` bytes; nothing changes if the store faults.
    #[inline]
    pub(crate) fn push(&mut self, size: u32, v: u64) -> Step {
        let sp = self.cpu.gpr[4].wrapping_sub(size as u64);
        self.write_mem(sp, size, v)?;
        self.cpu.gpr[4] = sp;
        Ok(())
    }

    /// Pops `size` bytes.
    #[inline]
    pub(crate) fn pop(&mut self, size: u32) -> Result<u64, Exit> {
        let sp = self.cpu.gpr[4];
        let v = self.read_mem(sp, size)?;
        self.cpu.gpr[4] = sp.wrapping_add(size as u64);
        Ok(v)
    }
}
