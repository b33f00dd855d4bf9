//! SSE dispatch (forms with an MMX register go to `mmx`, the crypto extensions to `crypto`; the
//! chain goes on to `sse_int`, `sse_fp`, then `system`), vector operand access and the data
//! moves: movd/movq, the 128-bit moves (movdqa/movdqu/movaps/movups/movapd/movupd/lddqu/
//! movnt*), movss/movsd, movhps/movlps/movhpd/movlpd/movhlps/movlhps, movddup/movshdup/
//! movsldup, (SSE4.2 string ops and crc32 in `sse_str`), the mask extractions (pmovmskb,
//! movmskps/pd), pextr*/pinsr*, maskmovdqu (in `mmx`), and the bitwise logic
//! (pand/pandn/por/pxor and the ps/pd forms).
//!
//! A 16-byte memory operand of a legacy SSE instruction must be 16-byte aligned (except for the
//! unaligned moves); a misaligned one is a general-protection fault, which Linux reports as
//! SIGSEGV with address 0.

use iced_x86::{Mnemonic as M, OpKind, Register};

use super::Exit;
use super::mmx::{self, is_mm};
use super::operand::{Ctx, Step, reg_size, xmm_index};
use super::{crypto, sse_int, sse_str};

/// Whether `r` is an XMM register.
#[inline]
pub(crate) fn is_xmm(r: Register) -> bool {
    (Register::XMM0 as u32..=Register::XMM15 as u32).contains(&(r as u32))
}

impl Ctx<'_> {
    /// Operand `i` as a vector: an XMM or MMX register, a GPR (zero-extended), memory of the
    /// operand's size (zero-extended), or an immediate.
    #[inline]
    pub(crate) fn xread(&self, i: u32) -> Result<u128, Exit> {
        match self.ins.op_kind(i) {
            OpKind::Register => {
                let r = self.ins.op_register(i);
                if is_xmm(r) {
                    Ok(self.cpu.xmm[xmm_index(r)])
                } else if is_mm(r) {
                    Ok(self.mm(r) as u128)
                } else {
                    Ok(self.reg(r) as u128)
                }
            }
            OpKind::Memory => {
                let size = self.ins.memory_size().size() as u32;
                let a = self.ea();
                if size == 16 {
                    self.check_align(a)?;
                    Ok(self.mem.read_u128(a)?)
                } else {
                    Ok(self.read_mem(a, size)? as u128)
                }
            }
            _ => Ok(self.ins.immediate(i) as u128),
        }
    }

    /// Writes operand `i`: a whole XMM register, an MMX register (the low 64 bits), a GPR, or
    /// memory of the operand's size.
    #[inline]
    pub(crate) fn xwrite(&mut self, i: u32, v: u128) -> Step {
        match self.ins.op_kind(i) {
            OpKind::Memory => {
                let size = self.ins.memory_size().size() as u32;
                let a = self.ea();
                if size == 16 {
                    self.check_align(a)?;
                    Ok(self.mem.write_u128(a, v)?)
                } else {
                    self.write_mem(a, size, v as u64)
                }
            }
            _ => {
                let r = self.ins.op_register(i);
                if is_xmm(r) {
                    self.cpu.xmm[xmm_index(r)] = v;
                } else if is_mm(r) {
                    self.set_mm(r, v as u64);
                } else {
                    self.set_reg(r, v as u64);
                }
                Ok(())
            }
        }
    }

    /// Operand 0 as an XMM register index (for read-modify-write forms).
    #[inline]
    pub(crate) fn x0(&self) -> usize {
        xmm_index(self.ins.op_register(0))
    }

    fn check_align(&self, a: u64) -> Step {
        let unaligned = matches!(
            self.ins.mnemonic(),
            M::Movdqu
                | M::Movups
                | M::Movupd
                | M::Lddqu
                | M::Pcmpistri
                | M::Pcmpistrm
                | M::Pcmpestri
                | M::Pcmpestrm
                | M::Pcmpestri64
                | M::Pcmpestrm64
        );
        if !a.is_multiple_of(16) && !unaligned {
            return Err(Exit::Fault {
                signal: 11,
                addr: 0,
                write: false,
            });
        }
        Ok(())
    }
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    if m == M::Emms || mmx::uses_mm(c) {
        return mmx::exec(c, m);
    }
    match m {
        M::Movd | M::Movq => movdq(c, if m == M::Movd { 4 } else { 8 }),
        M::Movdqa
        | M::Movdqu
        | M::Movaps
        | M::Movups
        | M::Movapd
        | M::Movupd
        | M::Lddqu
        | M::Movntdq
        | M::Movntps
        | M::Movntpd
        | M::Movntdqa => {
            let v = c.xread(1)?;
            c.xwrite(0, v)
        }
        M::Movnti => {
            let v = c.read_op(1)?;
            c.write_op(0, v)
        }
        M::Movss | M::Movsd => movs(c, if m == M::Movss { 4 } else { 8 }),
        M::Movhps | M::Movhpd | M::Movlps | M::Movlpd | M::Movhlps | M::Movlhps => half(c, m),
        M::Movddup | M::Movshdup | M::Movsldup => {
            let s = c.xread(1)?;
            let w = |k: u32| (s >> (32 * k)) as u32 as u128;
            let r = match m {
                M::Movddup => (s as u64 as u128) << 64 | s as u64 as u128,
                M::Movshdup => w(1) | w(1) << 32 | w(3) << 64 | w(3) << 96,
                _ => w(0) | w(0) << 32 | w(2) << 64 | w(2) << 96,
            };
            c.xwrite(0, r)
        }
        M::Pmovmskb | M::Movmskps | M::Movmskpd => {
            let s = c.xread(1)?;
            let bits = match m {
                M::Pmovmskb => 8,
                M::Movmskps => 32,
                _ => 64,
            };
            let mut r = 0u64;
            for k in 0..128 / bits {
                r |= (((s >> (k * bits + bits - 1)) & 1) as u64) << k;
            }
            c.write_op(0, r)
        }
        M::Pextrb | M::Pextrw | M::Pextrd | M::Pextrq => {
            let bits = lane_bits(m);
            let s = c.xread(1)?;
            let k = (c.ins.immediate(2) as u32) & (128 / bits - 1);
            let v = (s >> (k * bits)) as u64 & lane_mask(bits);
            if c.is_mem(0) {
                c.write_mem(c.ea(), bits / 8, v)
            } else {
                c.write_op(0, v)
            }
        }
        M::Pinsrb | M::Pinsrw | M::Pinsrd | M::Pinsrq => {
            let bits = lane_bits(m);
            let v = c.read_op(1)? & lane_mask(bits);
            let k = (c.ins.immediate(2) as u32) & (128 / bits - 1);
            let d = c.x0();
            let lm = (lane_mask(bits) as u128) << (k * bits);
            c.cpu.xmm[d] = (c.cpu.xmm[d] & !lm) | (v as u128) << (k * bits);
            Ok(())
        }
        M::Pcmpistri
        | M::Pcmpistrm
        | M::Pcmpestri
        | M::Pcmpestrm
        | M::Pcmpestri64
        | M::Pcmpestrm64 => sse_str::pcmpstr(c, m),
        M::Crc32 => sse_str::crc32(c),
        M::Maskmovdqu => mmx::maskmov(c, 16),
        M::Pand | M::Andps | M::Andpd => logic(c, |a, b| a & b),
        M::Pandn | M::Andnps | M::Andnpd => logic(c, |a, b| !a & b),
        M::Por | M::Orps | M::Orpd => logic(c, |a, b| a | b),
        M::Pxor | M::Xorps | M::Xorpd => logic(c, |a, b| a ^ b),
        _ if crypto::handles(m) => crypto::exec(c, m),
        _ => sse_int::exec(c, m),
    }
}

fn lane_bits(m: M) -> u32 {
    match m {
        M::Pextrb | M::Pinsrb => 8,
        M::Pextrw | M::Pinsrw => 16,
        M::Pextrd | M::Pinsrd => 32,
        _ => 64,
    }
}

#[inline]
pub(crate) fn lane_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn logic(c: &mut Ctx, f: impl Fn(u128, u128) -> u128) -> Step {
    let b = c.xread(1)?;
    let d = c.x0();
    c.cpu.xmm[d] = f(c.cpu.xmm[d], b);
    Ok(())
}

/// movd/movq: into an XMM register zero-extends; out of one stores the low `size` bytes.
fn movdq(c: &mut Ctx, size: u32) -> Step {
    let to_xmm = c.ins.op_kind(0) == OpKind::Register && is_xmm(c.ins.op_register(0));
    let v = c.xread(1)?;
    let size = if c.ins.op_kind(1) == OpKind::Register && !is_xmm(c.ins.op_register(1)) {
        reg_size(c.ins.op_register(1))
    } else {
        size
    };
    let v = if size == 4 {
        v as u32 as u128
    } else {
        v as u64 as u128
    };
    if to_xmm {
        c.xwrite(0, v)
    } else if c.is_mem(0) {
        c.write_mem(c.ea(), size, v as u64)
    } else {
        c.xwrite(0, v)
    }
}

/// movss/movsd: register to register merges the low element; a load zeroes the rest.
fn movs(c: &mut Ctx, size: u32) -> Step {
    let lm: u128 = if size == 4 {
        0xffff_ffff
    } else {
        u64::MAX as u128
    };
    if c.is_mem(0) {
        let v = c.xread(1)?;
        return c.write_mem(c.ea(), size, (v & lm) as u64);
    }
    let v = c.xread(1)?;
    let d = c.x0();
    c.cpu.xmm[d] = if c.is_mem(1) {
        v & lm
    } else {
        (c.cpu.xmm[d] & !lm) | (v & lm)
    };
    Ok(())
}

/// The 64-bit half moves.
fn half(c: &mut Ctx, m: M) -> Step {
    const LO: u128 = u64::MAX as u128;
    if c.is_mem(0) {
        let s = c.xread(1)?;
        let v = if matches!(m, M::Movhps | M::Movhpd) {
            s >> 64
        } else {
            s
        };
        return c.write_mem(c.ea(), 8, v as u64);
    }
    let s = c.xread(1)?;
    let d = c.x0();
    let x = c.cpu.xmm[d];
    c.cpu.xmm[d] = match m {
        M::Movhps | M::Movhpd | M::Movlhps => (x & LO) | (s & LO) << 64,
        M::Movhlps => (x & !LO) | s >> 64,
        _ => (x & !LO) | (s & LO),
    };
    Ok(())
}
