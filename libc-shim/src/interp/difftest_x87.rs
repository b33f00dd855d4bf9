//! Differential tests of the x87 subset against the host FPU: arithmetic, rounding (control word
//! precision and rounding fields), conversions, compares and classification over extended-
//! precision edge values; results are stored to memory, condition codes read with fnstsw.

use std::boxed::Box;
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::testing::{FLAGS, State, assemble, check_code};

type Snip = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

/// (sign-exponent, significand) edge values.
fn values() -> Vec<(u16, u64)> {
    let mut v = std::vec![
        (0x3fff, 1 << 63),               // 1
        (0xbfff, 1 << 63),               // -1
        (0x3fff, (1 << 63) | 1),         // 1 + 2^-63
        (0x4000, 0xc000_0000_0000_0000), // 3
        (0x3ffd, 0xaaaa_aaaa_aaaa_aaab), // ~1/3
        (0x4000, 0xc90f_daa2_2168_c235), // pi
        (0x7ffe, u64::MAX),              // max
        (0x0001, 1 << 63),               // min normal
        (0x0000, 1),                     // min denormal
        (0x8000, 0),                     // -0
        (0x0000, 0),                     // 0
        (0x7fff, 1 << 63),               // inf
        (0xffff, 1 << 63),               // -inf
        (0x7fff, 0xc000_0000_0000_1234), // qNaN
        (0x43fe, 0xffff_ffff_ffff_f800), // about f64::MAX
        (0x43fe, 0xffff_ffff_ffff_fc00), // overflows f64 when rounding
        (0x403d, 0xffff_ffff_ffff_ffff), // 2^63 - 0.5 region
        (0xc03e, 1 << 63),               // -2^63
        (0x3ffe, 1 << 63),               // 0.5
        (0x4000, 0xa000_0000_0000_0000), // 2.5
        (0xbc00, 0x8000_0000_0000_0801), // tiny negative (f64 denormal range)
        (0x401d, 0x8000_0000_8000_0000), // 2^30 + 0.5
    ];
    v.push((0x3fff, 0xffff_ffff_ffff_ffff));
    v
}

fn state(a: (u16, u64), b: (u16, u64), cw: u16) -> State {
    let mut s = State::default();
    let put = |s: &mut State, off: usize, x: (u16, u64)| {
        s.mem[off..off + 8].copy_from_slice(&x.1.to_le_bytes());
        s.mem[off + 8..off + 10].copy_from_slice(&x.0.to_le_bytes());
    };
    // rsi = DATA + 0x100 (mem offset 0x100): a at +0x10, b at +0x20, cw at +0x30.
    put(&mut s, 0x110, a);
    put(&mut s, 0x120, b);
    s.mem[0x130..0x132].copy_from_slice(&cw.to_le_bytes());
    for i in 0..0x100 {
        s.mem[0x300 + i] = 0;
    }
    s
}

macro_rules! snips {
    ($($name:literal => |$a:ident| $body:expr),* $(,)?) => {
        std::vec![$(($name, Box::new(|$a: &mut CodeAssembler| $body) as Snip)),*]
    };
}

/// Stores the x87 condition codes (C0-C3) into `reg` and a memory slot.
fn cc(a: &mut CodeAssembler, slot: i32) -> Result<(), IcedError> {
    a.fnstsw(ax)?;
    a.and(ax, 0x4700)?;
    a.mov(word_ptr(rsi + slot), ax)
}

fn snippets() -> Vec<(&'static str, Snip)> {
    snips![
        "arith" => |a| {
            a.fldcw(word_ptr(rsi + 0x30))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(st1)?;
            a.fadd_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x200))?;
            a.fld(st1)?;
            a.fsub_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fld(st1)?;
            a.fmul_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fld(st1)?;
            a.fdiv_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x230))?;
            a.fld(st1)?;
            a.fsubr_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x240))?;
            a.fld(st1)?;
            a.fdivr_2(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x250))?;
            a.fld(st1)?;
            a.fsqrt()?;
            a.fstp(tword_ptr(rsi + 0x260))?;
            a.fxch(st0, st1)?;
            a.fsubp(st1, st0)?;
            a.fstp(tword_ptr(rsi + 0x270))
        },
        "memory operands" => |a| {
            a.fldcw(word_ptr(rsi + 0x30))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fst(qword_ptr(rsi + 0x200))?;
            a.fst(dword_ptr(rsi + 0x208))?;
            a.fld(qword_ptr(rsi + 0x200))?;
            a.fadd(dword_ptr(rsi + 0x208))?;
            a.fmul(qword_ptr(rsi + 0x200))?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fdivr(qword_ptr(rsi + 0x200))?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fild(dword_ptr(rsi + 0x24))?;
            a.fimul(word_ptr(rsi + 0x18))?;
            a.fstp(tword_ptr(rsi + 0x230))?;
            a.fstp(qword_ptr(rsi + 0x240))
        },
        "C1 (rounded up)" => |a| {
            a.fldcw(word_ptr(rsi + 0x30))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(st1)?;
            a.fadd_2(st0, st1)?;
            cc(a, 0x200)?;
            a.fmul_2(st0, st2)?;
            cc(a, 0x202)?;
            a.fdiv_2(st0, st1)?;
            cc(a, 0x204)?;
            a.fsubr_2(st0, st2)?;
            cc(a, 0x206)?;
            a.fst(dword_ptr(rsi + 0x210))?;
            cc(a, 0x208)?;
            a.fst(qword_ptr(rsi + 0x218))?;
            cc(a, 0x20a)?;
            a.fsqrt()?;
            cc(a, 0x20c)?;
            a.frndint()?;
            cc(a, 0x20e)?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fstp(tword_ptr(rsi + 0x230))?;
            a.fstp(tword_ptr(rsi + 0x240))
        },
        "fld of signalling NaNs quiets them" => |a| {
            a.mov(rax, 0x7ff4_0000_0000_0001u64)?;
            a.mov(qword_ptr(rsi + 0x200), rax)?;
            a.mov(dword_ptr(rsi + 0x208), 0xffa0_0001u32 as i32)?;
            a.fld(qword_ptr(rsi + 0x200))?;
            a.fld(dword_ptr(rsi + 0x208))?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fstp(tword_ptr(rsi + 0x220))
        },
        "one fprem/fprem1 step (partial when exponents differ by 64+)" => |a| {
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fprem()?;
            cc(a, 0x200)?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fprem1()?;
            cc(a, 0x202)?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fstp(tword_ptr(rsi + 0x230))
        },
        "fld of a denormal m64fp/m32fp sets DE" => |a| {
            a.fninit()?;
            a.mov(qword_ptr(rsi + 0x200), 1)?;
            a.fld(qword_ptr(rsi + 0x200))?;
            a.fnstsw(word_ptr(rsi + 0x210))?;
            a.fninit()?;
            a.fld(dword_ptr(rsi + 0x200))?;
            a.fnstsw(word_ptr(rsi + 0x212))?;
            a.fstp(tword_ptr(rsi + 0x220))
        },
        "fincstp/fdecstp" => |a| {
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fincstp()?;
            a.fstp(tword_ptr(rsi + 0x200))?;
            a.fdecstp()?;
            a.fdecstp()?;
            cc(a, 0x210)?;
            a.fstp(tword_ptr(rsi + 0x220))
        },
        "conversions" => |a| {
            a.fldcw(word_ptr(rsi + 0x30))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fist(dword_ptr(rsi + 0x200))?;
            a.fist(word_ptr(rsi + 0x204))?;
            a.fld(st0)?;
            a.fistp(qword_ptr(rsi + 0x208))?;
            a.fld(st0)?;
            a.fisttp(qword_ptr(rsi + 0x210))?;
            a.fld(st0)?;
            a.fisttp(dword_ptr(rsi + 0x218))?;
            a.fld(st0)?;
            a.frndint()?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fld(st0)?;
            a.fstp(dword_ptr(rsi + 0x230))?;
            a.fstp(qword_ptr(rsi + 0x238))?;
            a.fild(qword_ptr(rsi + 0x20))?;
            a.fstp(tword_ptr(rsi + 0x240))
        },
        "compares" => |a| {
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fcomi(st0, st1)?;
            a.setb(cl)?;
            a.sete(ch)?;
            a.setp(dl)?;
            a.fucom(st0, st1)?;
            cc(a, 0x200)?;
            a.fcom(qword_ptr(rsi))?;
            cc(a, 0x202)?;
            a.ftst()?;
            cc(a, 0x204)?;
            a.fxam()?;
            cc(a, 0x206)?;
            a.fld(st1)?;
            a.fucomip(st0, st1)?;
            a.seta(dh)?;
            a.fcmovb(st0, st1)?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fucompp()?;
            cc(a, 0x208)?;
            a.fxam()?;
            cc(a, 0x20a)
        },
        "misc" => |a| {
            a.fldcw(word_ptr(rsi + 0x30))?;
            a.fld(tword_ptr(rsi + 0x20))?;
            a.fld(tword_ptr(rsi + 0x10))?;
            a.fld(st0)?;
            a.fchs()?;
            a.fabs()?;
            a.fstp(tword_ptr(rsi + 0x200))?;
            a.fld(st0)?;
            a.fxtract()?;
            a.fstp(tword_ptr(rsi + 0x210))?;
            a.fstp(tword_ptr(rsi + 0x220))?;
            a.fld(st0)?;
            a.fprem()?;
            cc(a, 0x230)?;
            a.fstp(tword_ptr(rsi + 0x240))?;
            a.fld(st0)?;
            a.fprem1()?;
            cc(a, 0x232)?;
            a.fstp(tword_ptr(rsi + 0x250))?;
            a.fldl2e()?;
            a.fstp(tword_ptr(rsi + 0x260))?;
            a.fldpi()?;
            a.fldln2()?;
            a.faddp(st1, st0)?;
            a.fstp(tword_ptr(rsi + 0x270))?;
            a.fld1()?;
            a.fscale()?;
            a.fstp(tword_ptr(rsi + 0x280))?;
            a.fnstcw(word_ptr(rsi + 0x290))?;
            a.fninit()?;
            a.fnstcw(word_ptr(rsi + 0x292))?;
            a.fnstsw(word_ptr(rsi + 0x294))
        },
    ]
}

#[test]
fn x87_differential() {
    let vs = values();
    let mut n = 0;
    // Control words: default (64-bit, nearest), 53-bit nearest, 64-bit down, up, toward zero.
    let cws = [0x037fu16, 0x027f, 0x077f, 0x0b7f, 0x0f7f];
    for (name, f) in snippets() {
        let code = assemble(&*f);
        for (i, &x) in vs.iter().enumerate() {
            for (j, &y) in vs.iter().enumerate() {
                let cw = cws[(i + j) % cws.len()];
                let s = state(x, y, cw);
                check_code(name, &code, &s, FLAGS);
                n += 1;
            }
        }
    }
    std::eprintln!("x87_differential: {n} cases");
}

#[test]
fn fxsave_roundtrip() {
    let f: Snip = Box::new(|a| {
        a.fld(tword_ptr(rsi + 0x10))?;
        a.fld1()?;
        a.fxsave(ptr(rsi + 0x200))?;
        a.fninit()?;
        a.pxor(xmm3, xmm3)?;
        a.fxrstor(ptr(rsi + 0x200))?;
        a.fstp(tword_ptr(rsi + 0x400))?;
        a.fstp(tword_ptr(rsi + 0x410))
    });
    let code = assemble(&*f);
    // Only compare the defined parts: the FP/DP pointers and reserved fields differ natively,
    // so check the interpreter's own round trip.
    let s = state((0x4000, 0xc000_0000_0000_0000), (0, 0), 0x37f);
    let (out, exit) = super::testing::run_interp(&code, &s);
    assert_eq!(exit, super::Exit::Halt);
    assert_eq!(
        &out.mem[0x500..0x50a],
        &[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]
    );
    assert_eq!(
        &out.mem[0x510..0x51a],
        &[0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0x40]
    );
    assert_eq!(out.xmm[3], s.xmm[3]);
}
