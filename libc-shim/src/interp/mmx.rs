//! MMX: the 64-bit packed-integer forms on mm0-mm7 (MMX, the SSE and SSSE3 additions on mm
//! registers), movd/movq/movntq/movq2dq/movdq2q, pinsrw/pextrw/pshufw/pmovmskb, maskmovq and
//! maskmovdqu, the conversions with an mm operand (cvtpi2ps/pd, cvt(t)ps2pi, cvt(t)pd2pi) and
//! emms.
//!
//! mmN is the significand of physical x87 register N. Writing one sets that register's
//! sign/exponent field to all ones; every MMX instruction but emms then sets TOP to 0 and every
//! tag to non-empty (the tags fnsave/fnstenv report follow from the contents: the written
//! registers read as special); emms empties every tag. The lane logic is the SSE one
//! ([`sse_int::lanewise`]) on the low 64 bits, with the operands arranged for the forms whose
//! 64-bit layout differs from the low half of the 128-bit one (high unpacks, packs, horizontal
//! adds, pshufb, palignr).

use iced_x86::{Mnemonic as M, OpKind, Register};

use super::operand::{Ctx, Step};
use super::x87::tag_of_contents;
use super::{sse_fp, sse_int};

/// Whether `r` is an MMX register.
#[inline]
pub(crate) fn is_mm(r: Register) -> bool {
    (Register::MM0 as u32..=Register::MM7 as u32).contains(&(r as u32))
}

/// Whether any operand of the current instruction is an MMX register.
#[inline]
pub(crate) fn uses_mm(c: &Ctx) -> bool {
    (0..c.ins.op_count())
        .any(|i| c.ins.op_kind(i) == OpKind::Register && is_mm(c.ins.op_register(i)))
}

fn mm_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::MM0 as usize) & 7
}

impl Ctx<'_> {
    /// The value of MMX register `r`.
    pub(crate) fn mm(&self, r: Register) -> u64 {
        let b = &self.cpu.x87.regs[mm_index(r)];
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Writes MMX register `r`: the significand, and all ones in the sign/exponent field.
    pub(crate) fn set_mm(&mut self, r: Register, v: u64) {
        let b = &mut self.cpu.x87.regs[mm_index(r)];
        b[..8].copy_from_slice(&v.to_le_bytes());
        b[8] = 0xff;
        b[9] = 0xff;
    }
}

/// The x87-to-MMX transition: TOP = 0 and every register non-empty.
fn enter_mmx(c: &mut Ctx) {
    let x = &mut c.cpu.x87;
    x.top = 0;
    x.tag = (0..8).fold(0, |t, p| t | tag_of_contents(&x.regs[p]) << (2 * p));
}

/// Executes an instruction with an MMX register operand, or emms.
pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    if m == M::Emms {
        c.cpu.x87.tag = 0xffff;
        return Ok(());
    }
    match m {
        M::Cvtpi2ps | M::Cvtpi2pd | M::Cvtps2pi | M::Cvttps2pi | M::Cvtpd2pi | M::Cvttpd2pi => {
            sse_fp::exec(c, m)?
        }
        M::Movd | M::Movq | M::Movntq | M::Movq2dq | M::Movdq2q => {
            let v = c.xread(1)?;
            let v = if m == M::Movd {
                v as u32 as u64
            } else {
                v as u64
            };
            c.xwrite(0, v as u128)?;
        }
        M::Maskmovq => maskmov(c, 8)?,
        M::Pmovmskb => {
            let s = c.xread(1)? as u64;
            let r = (0..8).fold(0, |r, k| r | ((s >> (8 * k + 7)) & 1) << k);
            c.write_op(0, r)?;
        }
        M::Pextrw => {
            let s = c.xread(1)? as u64;
            let k = c.ins.immediate(2) & 3;
            c.write_op(0, (s >> (16 * k)) & 0xffff)?;
        }
        M::Pinsrw => {
            let v = c.read_op(1)? & 0xffff;
            let k = c.ins.immediate(2) & 3;
            let d = c.ins.op_register(0);
            let a = c.mm(d) & !(0xffff << (16 * k));
            c.set_mm(d, a | v << (16 * k));
        }
        M::Pshufw => {
            let s = c.xread(1)? as u64;
            let i = c.ins.immediate(2);
            let r = (0..4).fold(0, |r, k| {
                r | ((s >> (16 * ((i >> (2 * k)) & 3))) & 0xffff) << (16 * k)
            });
            c.xwrite(0, r as u128)?;
        }
        _ => lanes(c, m)?,
    }
    enter_mmx(c);
    Ok(())
}

/// The packed-integer operations: destination mm register, source mm/m64 (m32 for the low
/// unpacks) or an immediate shift count.
fn lanes(c: &mut Ctx, m: M) -> Step {
    let b = c.xread(1)? as u64 as u128;
    let d = c.ins.op_register(0);
    let a = c.mm(d) as u128;
    let imm = if c.ins.op_count() > 2 {
        c.ins.immediate(2)
    } else {
        0
    };
    let r = match m {
        // The high unpacks interleave the high dwords: the low unpack of the shifted halves.
        M::Punpckhbw | M::Punpckhwd | M::Punpckhdq => {
            let low = match m {
                M::Punpckhbw => M::Punpcklbw,
                M::Punpckhwd => M::Punpcklwd,
                _ => M::Punpckldq,
            };
            sse_int::lanewise(low, a >> 32, b >> 32, 0, 0)
        }
        // Packs and horizontal operations take a's lanes then b's: one 128-bit operand a:b.
        M::Packsswb
        | M::Packssdw
        | M::Packuswb
        | M::Phaddw
        | M::Phaddd
        | M::Phaddsw
        | M::Phsubw
        | M::Phsubd
        | M::Phsubsw => sse_int::lanewise(m, a | b << 64, 0, 0, 0),
        // The index's low three bits select a byte of the 8-byte register: repeat it.
        M::Pshufb => sse_int::lanewise(m, a | a << 64, b, 0, 0),
        M::Pand => Some(a & b),
        M::Pandn => Some(!a & b),
        M::Por => Some(a | b),
        M::Pxor => Some(a ^ b),
        M::Palignr => {
            let n = imm & 0xff;
            let t = a << 64 | b;
            Some(if n > 15 { 0 } else { t >> (8 * n) })
        }
        _ => sse_int::lanewise(m, a, b, imm, 0),
    };
    let Some(r) = r else {
        return Err(super::Exit::InvalidOpcode);
    };
    c.set_mm(d, r as u64);
    Ok(())
}

/// maskmovq/maskmovdqu: stores the bytes of operand 1 whose mask byte (operand 2) has its top
/// bit set to `[rdi]` (`[edi]` with an address-size prefix), one byte at a time.
pub(crate) fn maskmov(c: &mut Ctx, bytes: u32) -> Step {
    let v = c.xread(1)?;
    let mask = c.xread(2)?;
    let am = if c.ins.op_kind(0) == OpKind::MemorySegEDI {
        0xffff_ffff
    } else {
        u64::MAX
    };
    let a = (c.cpu.gpr[7] & am).wrapping_add(c.seg_base());
    for k in 0..bytes {
        if (mask >> (8 * k + 7)) & 1 != 0 {
            c.write_mem(a.wrapping_add(k as u64), 1, (v >> (8 * k)) as u64)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use iced_x86::code_asm::*;

    use super::super::testing::{FLAGS, State, assemble, check_code};

    /// MMX registers alias the x87 registers: after movq/paddb, fnsave shows TOP 0, every tag
    /// non-empty (the written register's all-ones exponent makes it special) and the value in
    /// the significand; after emms fnstenv shows every tag empty.
    #[test]
    fn mmx_aliases_x87() {
        let code = assemble(&|a: &mut CodeAssembler| {
            for _ in 0..8 {
                a.fldz()?;
            }
            a.fninit()?;
            a.fld1()?;
            a.fldpi()?;
            a.movq(mm3, qword_ptr(rsi))?;
            a.paddb(mm3, mm6)?;
            a.fnsave(ptr(rdi + 0x300))?;
            a.fld1()?;
            a.movq(mm5, rax)?;
            a.emms()?;
            a.fnstenv(ptr(rdi + 0x400))
        });
        check_code("mmx_aliases_x87", &code, &State::default(), FLAGS);
    }
}
