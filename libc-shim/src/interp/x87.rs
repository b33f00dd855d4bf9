//! The x87 FPU subset that libc and libm use: loads and stores (m32/m64/m80, integers, st(i)),
//! the arithmetic group with its reversed and popping forms, fchs/fabs/fsqrt/frndint/fscale/
//! fprem/fprem1/fxtract, the transcendentals (`trans`, in double-double), the compares
//! (fcom*/fucom*/ficom*/fcomi*/ftst/fxam), the constants, control and status word access,
//! fcmovcc, fbld/fbstp (`bcd`), ffree/fxch/finit/fclex, fxsave/fxrstor and the environment
//! images (fnstenv/fldenv/fnsave/frstor, `env`). Arithmetic goes through the software [`F80`],
//! rounded per the control word's precision and rounding fields.
//!
//! Not emulated: exception status flags (other than DE for fld of a denormal m32fp/m64fp and the
//! stack fault on overflow, which loads the default NaN as the masked response does), unmasked
//! exceptions, and the opcode and data pointers (stored as 0; FIP is kept).

use core::cmp::Ordering;

use iced_x86::{MemorySize, Mnemonic as M, OpKind, Register};

use super::Exit;
use super::f80::{EXT, F80, ext_with_pc};
use super::flags::{CF, PF, ZF};
use super::operand::{Ctx, Step};
pub(crate) use env::tag_of_contents;
use support::{fxrstor, fxsave, prem};

mod bcd;
mod env;
mod support;
mod trans;

const C0: u16 = 1 << 8;
pub(crate) const C1: u16 = 1 << 9;
pub(crate) const C2: u16 = 1 << 10;
const C3: u16 = 1 << 14;
/// The tag of an empty register.
pub(crate) const TAG_EMPTY: u16 = 3;

impl Ctx<'_> {
    fn phys(&self, i: usize) -> usize {
        (self.cpu.x87.top as usize + i) & 7
    }

    /// st(i); an empty register reads as the default NaN (the masked stack-underflow response).
    fn st(&self, i: usize) -> F80 {
        if self.tag_of(self.phys(i)) == TAG_EMPTY {
            return F80::DEFAULT_NAN;
        }
        let r = &self.cpu.x87.regs[self.phys(i)];
        let mut b = [0u8; 10];
        b.copy_from_slice(&r[..10]);
        F80::from_bytes(b)
    }

    fn tag_of(&self, p: usize) -> u16 {
        (self.cpu.x87.tag >> (2 * p)) & 3
    }

    fn set_tag(&mut self, p: usize, t: u16) {
        let x = &mut self.cpu.x87;
        x.tag = (x.tag & !(3 << (2 * p))) | t << (2 * p);
    }

    fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.cpu.x87.regs[p][..10].copy_from_slice(&v.to_bytes());
        let t = if v.is_zero() {
            1
        } else if v.is_nan() || v.is_inf() || v.is_denormal() {
            2
        } else {
            0
        };
        self.set_tag(p, t);
    }

    fn push_st(&mut self, v: F80) {
        let top = (self.cpu.x87.top.wrapping_sub(1)) & 7;
        let overflow = self.tag_of(top as usize) != TAG_EMPTY;
        self.cpu.x87.top = top;
        if overflow {
            // Masked stack fault: IE | SF | C1, and the default NaN is loaded.
            self.cpu.x87.status |= 0x41 | C1;
            self.set_st(0, F80::DEFAULT_NAN);
        } else {
            self.set_st(0, v);
        }
    }

    fn pop_st(&mut self) {
        let p = self.phys(0);
        self.set_tag(p, TAG_EMPTY);
        self.cpu.x87.top = (self.cpu.x87.top + 1) & 7;
    }

    fn rc(&self) -> u32 {
        (self.cpu.x87.control as u32 >> 10) & 3
    }

    fn set_cc(&mut self, bits: u16) {
        let s = &mut self.cpu.x87.status;
        *s = (*s & !(C0 | C1 | C2 | C3)) | bits;
    }

    /// Reads an x87 memory operand of any supported size as an extended value.
    fn load_mem(&self) -> Result<F80, Exit> {
        let a = self.ea();
        Ok(match self.ins.memory_size() {
            MemorySize::Float32 => F80::from_f32(self.mem.read_u32(a)?),
            MemorySize::Float64 => F80::from_f64(self.mem.read_u64(a)?),
            MemorySize::Float80 => F80::from_bytes(self.mem.read_bytes(a, crate::mem::perm::READ)?),
            MemorySize::Int16 => F80::from_i64(self.mem.read_u16(a)? as i16 as i64),
            MemorySize::Int32 => F80::from_i64(self.mem.read_u32(a)? as i32 as i64),
            MemorySize::Int64 => F80::from_i64(self.mem.read_u64(a)? as i64),
            _ => return Err(Exit::InvalidOpcode),
        })
    }

    /// Sets C1 when `r` (rounded with the current mode) is larger in magnitude than `rz`, the
    /// same result rounded toward zero (the SDM's "rounded up"); clears it otherwise.
    fn set_c1_up(&mut self, r: F80, rz: F80) {
        let up = (r.se & 0x7fff, r.m) > (rz.se & 0x7fff, rz.m) && !r.is_nan();
        self.cpu.x87.status = (self.cpu.x87.status & !C1) | (up as u16 * C1);
    }

    /// Sets DE (masked, so only the flag) when an m32fp/m64fp source of fld is denormal; the
    /// other exception flags are not tracked.
    fn denormal_flag(&mut self) -> Step {
        let a = self.ea();
        let de = match self.ins.memory_size() {
            MemorySize::Float32 => {
                let r = self.mem.read_u32(a)?;
                r & 0x7f80_0000 == 0 && r & 0x7f_ffff != 0
            }
            MemorySize::Float64 => {
                let r = self.mem.read_u64(a)?;
                (r >> 52) & 0x7ff == 0 && r << 12 != 0
            }
            _ => false,
        };
        if de {
            self.cpu.x87.status |= 0x02;
        }
        Ok(())
    }

    /// Stores `v` to the memory operand, converted to its size; true if the conversion rounded
    /// up in magnitude (C1).
    fn store_mem(&mut self, v: F80, rc: u32) -> Result<bool, Exit> {
        let a = self.ea();
        let mut up = false;
        match self.ins.memory_size() {
            MemorySize::Float32 => {
                let (r, z) = (v.to_f32(rc), v.to_f32(3));
                up = r & !(1 << 31) > z & !(1 << 31);
                self.mem.write_u32(a, r)?
            }
            MemorySize::Float64 => {
                let (r, z) = (v.to_f64(rc), v.to_f64(3));
                up = r & !(1 << 63) > z & !(1 << 63);
                self.mem.write_u64(a, r)?
            }
            MemorySize::Float80 => self.mem.write_bytes(a, v.to_bytes())?,
            MemorySize::Int16 => {
                up = int_up(v, 16, rc);
                let i = v.to_int(16, rc).unwrap_or(-0x8000);
                self.mem.write_u16(a, i as u16)?
            }
            MemorySize::Int32 => {
                up = int_up(v, 32, rc);
                let i = v.to_int(32, rc).unwrap_or(i32::MIN as i64);
                self.mem.write_u32(a, i as u32)?
            }
            MemorySize::Int64 => {
                up = int_up(v, 64, rc);
                let i = v.to_int(64, rc).unwrap_or(i64::MIN);
                self.mem.write_u64(a, i as u64)?
            }
            _ => return Err(Exit::InvalidOpcode),
        }
        Ok(up)
    }

    /// Operand `i` as a stack index (st(0)..st(7)).
    fn sti(&self, i: u32) -> usize {
        (self.ins.op_register(i) as usize).wrapping_sub(Register::ST0 as usize) & 7
    }
}

/// Whether converting `v` to a `bits`-bit integer with mode `rc` rounded up in magnitude (C1 of
/// fist/fistp; false when the value does not fit).
fn int_up(v: F80, bits: u32, rc: u32) -> bool {
    match (v.to_int(bits, rc), v.to_int(bits, 3)) {
        (Some(r), Some(z)) => r.unsigned_abs() > z.unsigned_abs(),
        _ => false,
    }
}

/// The constants as the FPU rounds them: to nearest, adjusted for the directed modes.
fn constant(m: M, rc: u32) -> F80 {
    let (se, mant) = match m {
        M::Fld1 => (0x3fff, 1u64 << 63),
        M::Fldz => (0, 0),
        M::Fldl2e => (0x3fff, 0xb8aa_3b29_5c17_f0bc),
        M::Fldl2t => (0x4000, 0xd49a_784b_cd1b_8afe),
        M::Fldlg2 => (0x3ffd, 0x9a20_9a84_fbcf_f799),
        M::Fldln2 => (0x3ffe, 0xb172_17f7_d1cf_79ac),
        _ => (0x4000, 0xc90f_daa2_2168_c235),
    };
    let mant = match m {
        M::Fldl2t if rc == 2 => mant + 1,
        M::Fldl2e | M::Fldlg2 | M::Fldln2 | M::Fldpi if rc == 1 || rc == 3 => mant - 1,
        _ => mant,
    };
    F80 { se, m: mant }
}

/// The control instructions, which leave FIP alone.
fn is_control(m: M) -> bool {
    matches!(
        m,
        M::Fninit
            | M::Finit
            | M::Fnclex
            | M::Fclex
            | M::Fldcw
            | M::Fnstcw
            | M::Fstcw
            | M::Fnstsw
            | M::Fstsw
            | M::Fnstenv
            | M::Fldenv
            | M::Fnsave
            | M::Frstor
            | M::Wait
            | M::Fxsave
            | M::Fxsave64
            | M::Fxrstor
            | M::Fxrstor64
    )
}

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    let fip = c.ins.ip();
    let r = exec_op(c, m);
    if r.is_ok() && !is_control(m) {
        c.cpu.x87.fip = fip;
    }
    r
}

fn exec_op(c: &mut Ctx, m: M) -> Step {
    let f = ext_with_pc((c.cpu.x87.control as u32 >> 8) & 3);
    let rc = c.rc();
    match m {
        M::Fld => {
            let v = if c.is_mem(0) {
                c.denormal_flag()?;
                c.load_mem()?
            } else {
                c.st(c.sti(0))
            };
            c.push_st(v);
        }
        M::Fild => {
            let v = c.load_mem()?;
            c.push_st(v);
        }
        M::Fld1 | M::Fldz | M::Fldl2e | M::Fldl2t | M::Fldlg2 | M::Fldln2 | M::Fldpi => {
            // C1 is cleared (set only by a stack overflow), in every rounding mode: the SDM, and
            // measured.
            c.cpu.x87.status &= !C1;
            c.push_st(constant(m, rc))
        }
        M::Fst | M::Fstp | M::Fstpnce | M::Fist | M::Fistp | M::Fisttp => {
            let v = c.st(0);
            if c.is_mem(0) {
                let up = c.store_mem(v, if m == M::Fisttp { 3 } else { rc })?;
                c.cpu.x87.status = (c.cpu.x87.status & !C1) | (up as u16 * C1);
            } else {
                c.set_st(c.sti(0), v);
            }
            if matches!(m, M::Fstp | M::Fstpnce | M::Fistp | M::Fisttp) {
                c.pop_st();
            }
        }
        M::Fxch => {
            let i = if c.ins.op_count() == 0 {
                1
            } else {
                c.sti(c.ins.op_count() - 1)
            };
            let (a, b) = (c.st(0), c.st(i));
            c.set_st(0, b);
            c.set_st(i, a);
        }
        M::Fadd
        | M::Faddp
        | M::Fiadd
        | M::Fsub
        | M::Fsubp
        | M::Fisub
        | M::Fsubr
        | M::Fsubrp
        | M::Fisubr
        | M::Fmul
        | M::Fmulp
        | M::Fimul
        | M::Fdiv
        | M::Fdivp
        | M::Fidiv
        | M::Fdivr
        | M::Fdivrp
        | M::Fidivr => {
            let (d, a, b) = if c.ins.op_count() == 1 && c.is_mem(0) {
                (0, c.st(0), c.load_mem()?)
            } else if c.ins.op_count() == 2 {
                (c.sti(0), c.st(c.sti(0)), c.st(c.sti(1)))
            } else {
                (1, c.st(1), c.st(0))
            };
            let op = |rc| match m {
                M::Fadd | M::Faddp | M::Fiadd => F80::add(a, b, f, rc),
                M::Fsub | M::Fsubp | M::Fisub => F80::sub(a, b, f, rc),
                M::Fsubr | M::Fsubrp | M::Fisubr => F80::sub(b, a, f, rc),
                M::Fmul | M::Fmulp | M::Fimul => F80::mul(a, b, f, rc),
                M::Fdiv | M::Fdivp | M::Fidiv => F80::div(a, b, f, rc),
                _ => F80::div(b, a, f, rc),
            };
            let r = op(rc);
            c.set_c1_up(r, op(3));
            c.set_st(d, r);
            if matches!(
                m,
                M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
            ) {
                c.pop_st();
            }
        }
        M::Fchs => c.set_st(0, c.st(0).neg()),
        M::Fabs => c.set_st(0, c.st(0).abs()),
        M::Fsqrt => {
            let r = F80::sqrt(c.st(0), f, rc);
            c.set_c1_up(r, F80::sqrt(c.st(0), f, 3));
            c.set_st(0, r);
        }
        M::Frndint => {
            let r = c.st(0).round_int(rc);
            c.set_c1_up(r, c.st(0).round_int(3));
            c.set_st(0, r);
        }
        // Precision control does not apply to fscale (only to the arithmetic group and fsqrt).
        M::Fscale => {
            let (x, y) = (c.st(0), c.st(1));
            let scale = |rc| {
                if y.is_nan() || x.is_nan() {
                    F80::add(x, y, EXT, rc)
                } else if y.is_inf() {
                    match (y.sign(), x.is_zero(), x.is_inf()) {
                        (false, true, _) | (true, _, true) => F80::DEFAULT_NAN,
                        (false, _, _) => F80::mul(
                            x,
                            F80 {
                                se: 0x7fff,
                                m: 1 << 63,
                            },
                            EXT,
                            rc,
                        ),
                        (true, _, _) => F80::mul(x, F80::ZERO, EXT, rc),
                    }
                } else {
                    let n = y
                        .to_int(64, 3)
                        .unwrap_or(if y.sign() { i64::MIN } else { i64::MAX });
                    x.scale(n, EXT, rc)
                }
            };
            let r = scale(rc);
            c.set_c1_up(r, scale(3));
            c.set_st(0, r);
        }
        M::Fprem | M::Fprem1 => {
            let (r, q) = prem(c.st(0), c.st(1), m == M::Fprem1);
            c.set_st(0, r);
            let cc = match q {
                None => C2,
                Some(q) => {
                    ((q & 1 != 0) as u16 * C1)
                        | ((q & 2 != 0) as u16 * C3)
                        | ((q & 4 != 0) as u16 * C0)
                }
            };
            c.set_cc(cc);
        }
        M::Fxtract => {
            let x = c.st(0);
            let (e, s) = if x.is_zero() {
                (
                    F80 {
                        se: 0xffff,
                        m: 1 << 63,
                    },
                    x,
                )
            } else if x.is_inf() {
                (x.abs(), x)
            } else if x.is_nan() {
                (x, x)
            } else {
                x.extract()
            };
            c.set_st(0, e);
            c.push_st(s);
        }
        M::Fcom
        | M::Fcomp
        | M::Fcompp
        | M::Fucom
        | M::Fucomp
        | M::Fucompp
        | M::Ftst
        | M::Ficom
        | M::Ficomp => {
            let b = if m == M::Ftst {
                F80::ZERO
            } else if c.ins.op_count() >= 1 && c.is_mem(c.ins.op_count() - 1) {
                c.load_mem()?
            } else if c.ins.op_count() == 2 {
                c.st(c.sti(1))
            } else {
                c.st(1)
            };
            let cc = match F80::cmp(c.st(0), b) {
                None => C0 | C2 | C3,
                Some(Ordering::Less) => C0,
                Some(Ordering::Equal) => C3,
                Some(Ordering::Greater) => 0,
            };
            c.set_cc(cc);
            match m {
                M::Fcomp | M::Fucomp | M::Ficomp => c.pop_st(),
                M::Fcompp | M::Fucompp => {
                    c.pop_st();
                    c.pop_st();
                }
                _ => {}
            }
        }
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => {
            let b = c.st(c.sti(1));
            let fl = match F80::cmp(c.st(0), b) {
                None => ZF | PF | CF,
                Some(Ordering::Less) => CF,
                Some(Ordering::Equal) => ZF,
                Some(Ordering::Greater) => 0,
            };
            c.cpu.flags.set_arith(fl);
            c.cpu.x87.status &= !C1;
            if matches!(m, M::Fcomip | M::Fucomip) {
                c.pop_st();
            }
        }
        M::Fxam => {
            let x = c.st(0);
            // The sign comes from the register even when it is empty.
            let sign = (c.cpu.x87.regs[c.phys(0)][9] >> 7) as u16 * C1;
            let class = if c.tag_of(c.phys(0)) == TAG_EMPTY {
                C3 | C0
            } else if x.is_nan() {
                C0
            } else if x.is_inf() {
                C2 | C0
            } else if x.is_zero() {
                C3
            } else if x.is_denormal() {
                C3 | C2
            } else {
                C2
            };
            c.set_cc(sign | class);
        }
        M::Fcmovb
        | M::Fcmove
        | M::Fcmovbe
        | M::Fcmovu
        | M::Fcmovnb
        | M::Fcmovne
        | M::Fcmovnbe
        | M::Fcmovnu => {
            let fl = &c.cpu.flags;
            let take = match m {
                M::Fcmovb => fl.cf(),
                M::Fcmove => fl.zf(),
                M::Fcmovbe => fl.cf() || fl.zf(),
                M::Fcmovu => fl.pf(),
                M::Fcmovnb => !fl.cf(),
                M::Fcmovne => !fl.zf(),
                M::Fcmovnbe => !fl.cf() && !fl.zf(),
                _ => !fl.pf(),
            };
            if take {
                c.set_st(0, c.st(c.sti(1)));
            }
        }
        M::Fldcw => {
            let v = c.read_op(0)?;
            c.cpu.x87.control = v as u16;
        }
        M::Fnstcw | M::Fstcw => c.write_op(0, c.cpu.x87.control as u64)?,
        M::Fnstsw | M::Fstsw => {
            let x = &c.cpu.x87;
            let v = (x.status & !0x3800) | (x.top as u16) << 11;
            if c.ins.op_kind(0) == OpKind::Register {
                c.set_reg(Register::AX, v as u64);
            } else {
                c.write_op(0, v as u64)?;
            }
        }
        M::Fnclex | M::Fclex => c.cpu.x87.status &= 0x7f00,
        M::Fninit | M::Finit => {
            let x = &mut c.cpu.x87;
            x.control = 0x037f;
            x.status = 0;
            x.tag = 0xffff;
            x.top = 0;
            x.fip = 0;
        }
        // fneni/fndisi/fnsetpm are 8087/80287 controls the 387 and later execute as fnop.
        M::Wait | M::Fnop | M::Fneni | M::Fndisi | M::Fnsetpm => {}
        M::Fincstp | M::Fdecstp => {
            let d = if m == M::Fincstp { 1 } else { 7 };
            c.cpu.x87.top = (c.cpu.x87.top + d) & 7;
            c.cpu.x87.status &= !C1;
        }
        M::Ffree | M::Ffreep => {
            let p = c.phys(c.sti(0));
            c.set_tag(p, TAG_EMPTY);
            if m == M::Ffreep {
                c.pop_st();
            }
        }
        M::Fxsave | M::Fxsave64 => fxsave(c)?,
        M::Fxrstor | M::Fxrstor64 => fxrstor(c)?,
        M::Fsin
        | M::Fcos
        | M::Fsincos
        | M::Fptan
        | M::Fpatan
        | M::F2xm1
        | M::Fyl2x
        | M::Fyl2xp1 => trans::exec(c, m)?,
        M::Fbld => bcd::fbld(c)?,
        M::Fbstp => bcd::fbstp(c)?,
        M::Fnstenv | M::Fnsave => env::store(c, m == M::Fnsave)?,
        M::Fldenv | M::Frstor => env::load(c, m == M::Frstor)?,
        _ => return Err(Exit::InvalidOpcode),
    }
    Ok(())
}
