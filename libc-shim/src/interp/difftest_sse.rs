//! Differential tests of the SSE instructions against the host CPU: integer lanes over byte,
//! word and dword edge patterns, floating point over special values (zeros, infinities, NaNs,
//! denormals, rounding ties, integer-conversion limits), comparing MXCSR including its exception
//! flags.

use std::boxed::Box;
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::testing::{FLAGS, State, assemble, check_code_mxcsr};

type Snip = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

/// 128-bit patterns for integer tests.
fn int_vectors() -> Vec<u128> {
    let mut v = Vec::new();
    for &b in &[0u8, 1, 0x7f, 0x80, 0xff, 0x55] {
        v.push(u128::from_le_bytes([b; 16]));
    }
    v.push(0x0001_8000_7fff_ffff_0000_1234_fffe_8001u128 | 0x8000_0000_7fff_ffff << 64);
    v.push(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100);
    v.push(0x8081_7f7e_ff00_0102_f0e1_d2c3_b4a5_9687);
    v.push(0xffff_ffff_0000_0000_8000_0000_7fff_ffff);
    v
}

fn f64_values() -> Vec<u64> {
    let vals = [
        0.0f64,
        -0.0,
        1.0,
        -1.0,
        1.5,
        2.5,
        -2.5,
        0.49999999999999994,
        3.7,
        1e300,
        -1e-300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        2147483647.5,
        -2147483648.5,
        9.223_372_036_854_776e18,
        -9.223_372_036_854_776e18,
        4294967296.0,
    ];
    let mut v: Vec<u64> = vals.iter().map(|x| x.to_bits()).collect();
    v.push(0x7ff8_0000_0000_1234); // qNaN with payload
    v.push(0xfff4_0000_0000_0001); // sNaN, negative
    v
}

fn f32_values() -> Vec<u32> {
    let vals = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        1.5,
        2.5,
        -0.5,
        3.7,
        1e30,
        -1e-30,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        1e-45,
        2147483520.0,
        -2147483648.0,
        16777217.0,
    ];
    let mut v: Vec<u32> = vals.iter().map(|x| x.to_bits()).collect();
    v.push(0x7fc0_1234);
    v.push(0xffa0_0001);
    v
}

fn run(snips: &[(&str, Snip)], inputs: &[(u128, u128)], mask: u64) -> usize {
    let mut n = 0;
    for (name, f) in snips {
        let code = assemble(&**f);
        for &(a, b) in inputs {
            let mut s = State::default();
            s.xmm[0] = a;
            s.xmm[1] = b;
            s.gpr[0] = a as u64;
            s.gpr[3] = b as u64;
            s.mem[0x100..0x110].copy_from_slice(&b.to_le_bytes());
            check_code_mxcsr(name, &code, &s, mask, u32::MAX);
            n += 1;
        }
    }
    n
}

macro_rules! snips {
    ($($name:literal => |$a:ident| $body:expr),* $(,)?) => {
        std::vec![$(($name, Box::new(move |$a: &mut CodeAssembler| $body) as Snip)),*]
    };
}

#[test]
fn sse_integer() {
    let vs = int_vectors();
    let pairs: Vec<(u128, u128)> = vs
        .iter()
        .flat_map(|&a| vs.iter().map(move |&b| (a, b)))
        .collect();
    let s = snips![
        "moves" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.movdqu(xmm3, xmmword_ptr(rsi + 1))?;
            a.movdqa(xmmword_ptr(rsi + 0x20), xmm1)?;
            a.movups(xmmword_ptr(rsi + 0x33), xmm0)?;
            a.movd(ecx, xmm0)?;
            a.movq(rdx, xmm1)?;
            a.movd(xmm4, ebx)?;
            a.movq(xmm5, rax)?;
            a.movq(xmm6, xmm1)?;
            a.movq(qword_ptr(rsi + 0x48), xmm0)?;
            a.movd(xmm7, dword_ptr(rsi + 4))
        },
        "halves" => |a| {
            a.movhps(xmm2, qword_ptr(rsi))?;
            a.movlps(xmm3, qword_ptr(rsi + 8))?;
            a.movhpd(qword_ptr(rsi + 0x40), xmm0)?;
            a.movlpd(qword_ptr(rsi + 0x50), xmm1)?;
            a.movhlps(xmm4, xmm0)?;
            a.movlhps(xmm5, xmm1)?;
            a.movss(xmm6, xmm0)?;
            a.movsd_2(xmm7, xmm1)?;
            a.movss(xmm8, dword_ptr(rsi))?;
            a.movsd_2(xmm9, qword_ptr(rsi))?;
            a.movsd_2(qword_ptr(rsi + 0x60), xmm0)?;
            a.movddup(xmm10, xmm0)?;
            a.movshdup(xmm11, xmm1)?;
            a.movsldup(xmm12, xmm0)
        },
        "logic+masks" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.pand(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.pandn(xmm3, xmm1)?;
            a.por(xmm1, xmm0)?;
            a.pxor(xmm0, xmmword_ptr(rsi))?;
            a.xorps(xmm4, xmm4)?;
            a.andnpd(xmm5, xmm2)?;
            a.pmovmskb(ecx, xmm0)?;
            a.movmskps(edx, xmm1)?;
            a.movmskpd(r8d, xmm3)
        },
        "add/sub" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.paddb(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.paddw(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.paddd(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.paddq(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.psubb(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.psubusb(xmm7, xmm1)?;
            a.movdqa(xmm8, xmm0)?;
            a.paddsw(xmm8, xmm1)?;
            a.movdqa(xmm9, xmm0)?;
            a.psubsb(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.paddusw(xmm10, xmm1)?;
            a.movdqa(xmm11, xmm0)?;
            a.psubq(xmm11, xmm1)
        },
        "compare/minmax" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.pcmpeqb(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.pcmpgtw(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.pcmpgtd(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.pminub(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.pmaxsw(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.pcmpeqq(xmm7, xmm1)?;
            a.movdqa(xmm8, xmm0)?;
            a.pminsd(xmm8, xmm1)?;
            a.movdqa(xmm9, xmm0)?;
            a.pmaxud(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.pavgb(xmm10, xmm1)?;
            a.movdqa(xmm11, xmm0)?;
            a.pcmpgtq(xmm11, xmm1)
        },
        "multiply" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.pmullw(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.pmulhw(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.pmulhuw(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.pmuludq(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.pmaddwd(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.psadbw(xmm7, xmm1)?;
            a.movdqa(xmm8, xmm0)?;
            a.pmulld(xmm8, xmm1)?;
            a.movdqa(xmm9, xmm0)?;
            a.pmaddubsw(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.pmulhrsw(xmm10, xmm1)?;
            a.movdqa(xmm11, xmm0)?;
            a.pmuldq(xmm11, xmm1)
        },
        "shifts" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.psllw(xmm2, 3)?;
            a.movdqa(xmm3, xmm0)?;
            a.psrld(xmm3, 31)?;
            a.movdqa(xmm4, xmm0)?;
            a.psraw(xmm4, 17)?;
            a.movdqa(xmm5, xmm0)?;
            a.psrlq(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.pslldq(xmm6, 5)?;
            a.movdqa(xmm7, xmm0)?;
            a.psrldq(xmm7, 15)?;
            a.movdqa(xmm8, xmm0)?;
            a.psrad(xmm8, xmm1)?;
            a.movdqa(xmm9, xmm0)?;
            a.psllq(xmm9, 64)
        },
        "shuffles" => |a| {
            a.pshufd(xmm2, xmm0, 0x1b)?;
            a.pshuflw(xmm3, xmm1, 0xc6)?;
            a.pshufhw(xmm4, xmm0, 0x39)?;
            a.movdqa(xmm5, xmm0)?;
            a.pshufb(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.palignr(xmm6, xmm1, 7)?;
            a.movdqa(xmm7, xmm0)?;
            a.shufps(xmm7, xmm1, 0x4e)?;
            a.movdqa(xmm8, xmm0)?;
            a.shufpd(xmm8, xmm1, 2)?;
            a.movdqa(xmm9, xmm0)?;
            a.palignr(xmm9, xmm1, 20)
        },
        "unpack/pack" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.punpcklbw(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.punpckhwd(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.punpckldq(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.punpckhqdq(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.packuswb(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.packsswb(xmm7, xmm1)?;
            a.movdqa(xmm8, xmm0)?;
            a.packssdw(xmm8, xmm1)?;
            a.movdqa(xmm9, xmm0)?;
            a.packusdw(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.unpckhps(xmm10, xmm1)?;
            a.movdqa(xmm11, xmm0)?;
            a.unpcklpd(xmm11, xmm1)
        },
        "ssse3/sse4.1 misc" => |a| {
            a.pabsb(xmm2, xmm0)?;
            a.pabsd(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.psignw(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.phaddw(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.phsubd(xmm6, xmm1)?;
            a.pmovzxbw(xmm7, xmm0)?;
            a.pmovsxwd(xmm8, xmm1)?;
            a.pmovsxdq(xmm9, qword_ptr(rsi))?;
            a.movdqa(xmm10, xmm0)?;
            a.pblendw(xmm10, xmm1, 0xa5)?;
            a.movdqa(xmm11, xmm1)?;
            a.pblendvb(xmm11, xmm0)?;
            a.pextrw(ecx, xmm0, 5)?;
            a.pextrb(edx, xmm1, 13)?;
            a.pextrq(r8, xmm0, 1)?;
            a.pinsrw(xmm12, ebx, 3)?;
            a.pinsrd(xmm13, eax, 2)?;
            a.pinsrb(xmm14, dword_ptr(rsi), 9)?;
            a.ptest(xmm0, xmm1)
        },
    ];
    let n = run(&s, &pairs, FLAGS);
    std::eprintln!("sse_integer: {n} cases");
}

#[test]
fn sse42_strings() {
    let mut vs = int_vectors();
    vs.push(u128::from_le_bytes(*b"hello, world\0xyz"));
    vs.push(u128::from_le_bytes(*b"azAZ09\0\0........"));
    vs.push(u128::from_le_bytes(*b"lo, w\0.........."));
    vs.push(u128::from_le_bytes(*b"world, hello wor"));
    let pairs: Vec<(u128, u128)> = vs
        .iter()
        .flat_map(|&a| vs.iter().map(move |&b| (a, b)))
        .collect();
    let mut n = 0;
    for imm in [
        0x00u32, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0c, 0x0d, 0x0e, 0x14, 0x1a,
        0x38, 0x3a, 0x44, 0x4c, 0x70, 0x7f,
    ] {
        let s: Vec<(&str, Snip)> = snips![
            "pcmpistri/pcmpistrm/pcmpestri/pcmpestrm" => |a| {
                a.pcmpistri(xmm0, xmm1, imm)?;
                a.mov(r8, rcx)?;
                a.pushfq()?;
                a.pop(r9)?;
                a.movdqa(xmm2, xmm0)?;
                a.pcmpistrm(xmm2, xmmword_ptr(rsi), imm)?;
                a.movdqa(xmm3, xmm0)?;
                a.movdqa(xmm0, xmm1)?;
                a.movdqa(xmm1, xmm3)?;
                a.and(eax, 0x1f)?;
                a.sub(eax, 6)?;
                a.and(edx, 0x1f)?;
                a.pcmpestri(xmm0, xmm1, imm)?;
                a.mov(r10, rcx)?;
                a.pushfq()?;
                a.pop(r11)?;
                a.pcmpestrm(xmm1, xmm3, imm)
            },
        ];
        n += run(&s, &pairs, FLAGS);
    }
    let s = snips![
        "crc32" => |a| {
            a.crc32(eax, bl)?;
            a.crc32(eax, bx)?;
            a.crc32(ecx, ebx)?;
            a.crc32(rdx, rbx)?;
            a.crc32(r8d, dword_ptr(rsi))
        },
    ];
    n += run(&s, &pairs, FLAGS);
    std::eprintln!("sse42_strings: {n} cases");
}

#[test]
fn sse_float() {
    let d = f64_values();
    let f = f32_values();
    let mut pairs = Vec::new();
    for (i, &x) in d.iter().enumerate() {
        for (j, &y) in d.iter().enumerate() {
            let fx = f[(i + j) % f.len()] as u128;
            let fy = f[(i * 7 + j) % f.len()] as u128;
            pairs.push((
                x as u128 | (y as u128) << 64,
                y as u128 | (x as u128) << 64 | fx << 32 | fy,
            ));
        }
    }
    for (i, &x) in f.iter().enumerate() {
        for &y in &f {
            let a = (x as u128) | (y as u128) << 32 | (f[(i + 3) % f.len()] as u128) << 96;
            let b = (y as u128) | (x as u128) << 64 | (f[(i + 5) % f.len()] as u128) << 32;
            pairs.push((a, b));
        }
    }
    let s = snips![
        "sd arith" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.addsd(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.subsd(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.mulsd(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.divsd(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.minsd(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.maxsd(xmm7, xmm1)?;
            a.sqrtsd(xmm8, xmm0)?;
            a.movdqa(xmm9, xmm0)?;
            a.addpd(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.divpd(xmm10, xmmword_ptr(rsi))?;
            a.sqrtpd(xmm11, xmm1)
        },
        "ss/ps arith" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.addss(xmm2, xmm1)?;
            a.movdqa(xmm3, xmm0)?;
            a.subps(xmm3, xmm1)?;
            a.movdqa(xmm4, xmm0)?;
            a.mulps(xmm4, xmm1)?;
            a.movdqa(xmm5, xmm0)?;
            a.divss(xmm5, xmm1)?;
            a.movdqa(xmm6, xmm0)?;
            a.minps(xmm6, xmm1)?;
            a.movdqa(xmm7, xmm0)?;
            a.maxss(xmm7, xmm1)?;
            a.sqrtps(xmm8, xmm0)?;
            a.movdqa(xmm9, xmm0)?;
            a.haddps(xmm9, xmm1)?;
            a.movdqa(xmm10, xmm0)?;
            a.addsubpd(xmm10, xmm1)?;
            a.movdqa(xmm11, xmm0)?;
            a.haddpd(xmm11, xmm1)
        },
        "compares" => |a| {
            a.ucomisd(xmm0, xmm1)?;
            a.setb(cl)?;
            a.sete(ch)?;
            a.setp(dl)?;
            a.comiss(xmm1, xmm0)?;
            a.seta(dh)?;
            a.movdqa(xmm2, xmm0)?;
            a.cmpsd_3(xmm2, xmm1, 1)?;
            a.movdqa(xmm3, xmm0)?;
            a.cmpps(xmm3, xmm1, 3)?;
            a.movdqa(xmm4, xmm0)?;
            a.cmppd(xmm4, xmm1, 6)?;
            a.movdqa(xmm5, xmm0)?;
            a.cmpss(xmm5, xmm1, 4)?;
            a.ucomiss(xmm0, xmm1)
        },
        "conversions" => |a| {
            a.cvttsd2si(rcx, xmm0)?;
            a.cvtsd2si(edx, xmm1)?;
            a.cvttss2si(r8d, xmm1)?;
            a.cvtss2si(r9, xmm0)?;
            a.cvtsi2sd(xmm2, rax)?;
            a.cvtsi2ss(xmm3, ebx)?;
            a.cvtsi2sd(xmm12, ebx)?;
            a.cvtsd2ss(xmm4, xmm0)?;
            a.cvtss2sd(xmm5, xmm1)?;
            a.cvtdq2pd(xmm6, xmm0)?;
            a.cvtdq2ps(xmm7, xmm1)?;
            a.cvttps2dq(xmm8, xmm0)?;
            a.cvtps2dq(xmm9, xmm1)?;
            a.cvttpd2dq(xmm10, xmm0)?;
            a.cvtpd2ps(xmm11, xmm1)?;
            a.cvtps2pd(xmm13, xmm0)?;
            a.cvtpd2dq(xmm14, xmm1)
        },
        "sse4.1 float" => |a| {
            a.movdqa(xmm2, xmm0)?;
            a.roundsd(xmm2, xmm1, 0)?;
            a.movdqa(xmm3, xmm0)?;
            a.roundss(xmm3, xmm1, 1)?;
            a.roundpd(xmm4, xmm0, 2)?;
            a.roundps(xmm5, xmm1, 3)?;
            a.roundpd(xmm6, xmm1, 4)?;
            a.movdqa(xmm7, xmm0)?;
            a.insertps(xmm7, xmm1, 0x9a)?;
            a.movdqa(xmm8, xmm0)?;
            a.insertps(xmm8, dword_ptr(rsi + 4), 0x31)?;
            a.extractps(ecx, xmm1, 2)?;
            a.extractps(dword_ptr(rsi + 0x40), xmm0, 3)
        },
        "rounding modes" => |a| {
            a.stmxcsr(dword_ptr(rsi + 0x40))?;
            a.mov(dword_ptr(rsi + 0x44), 0x1f80 | 0x2000)?;
            a.ldmxcsr(dword_ptr(rsi + 0x44))?;
            a.cvtsd2si(rcx, xmm0)?;
            a.cvtps2dq(xmm2, xmm1)?;
            a.mov(dword_ptr(rsi + 0x44), 0x1f80 | 0x4000)?;
            a.ldmxcsr(dword_ptr(rsi + 0x44))?;
            a.cvtsd2si(rdx, xmm0)?;
            a.mov(dword_ptr(rsi + 0x44), 0x1f80 | 0x6000)?;
            a.ldmxcsr(dword_ptr(rsi + 0x44))?;
            a.cvtss2si(r8, xmm1)?;
            a.ldmxcsr(dword_ptr(rsi + 0x40))
        },
    ];
    let n = run(&s, &pairs, FLAGS);
    std::eprintln!("sse_float: {n} cases");
}

#[test]
fn misaligned_movdqa_faults() {
    let f: Snip = Box::new(|a| a.movdqa(xmm0, xmmword_ptr(rsi + 8)));
    let (_, exit) = super::testing::run_interp(&assemble(&*f), &State::default());
    assert_eq!(
        exit,
        super::Exit::Fault {
            signal: 11,
            addr: 0,
            write: false
        }
    );
}
