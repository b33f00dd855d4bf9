//! Differential tests of MXCSR-exact SSE float arithmetic against the host CPU: every rounding
//! mode, with and without DAZ/FTZ, comparing results and the MXCSR exception flags, over edge
//! values (zeros, denormals, infinities, NaNs, ties, overflow and underflow boundaries).

use std::boxed::Box;
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::testing::{FLAGS, State, assemble, check_code_mxcsr};

type Snip = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

macro_rules! snips {
    ($($name:literal => |$a:ident| $body:expr),* $(,)?) => {
        std::vec![$(($name, Box::new(move |$a: &mut CodeAssembler| $body) as Snip)),*]
    };
}

/// Rounding modes crossed with DAZ|FTZ off and on, and round to nearest with PE already set
/// (the interpreter's fast path).
fn mxcsrs() -> Vec<u32> {
    let mut v = std::vec![0x1fa0];
    for rc in 0..4 {
        v.push(0x1f80 | rc << 13);
        v.push(0x1f80 | rc << 13 | 0x8040);
    }
    v
}

fn f64_values() -> Vec<u64> {
    let vals = [
        0.0f64,
        -0.0,
        1.0,
        -1.0,
        1.5,
        3.0,
        0.1,
        -1.0 / 3.0,
        2.0,
        1.0 + f64::EPSILON,
        f64::EPSILON / 2.0,
        9007199254740992.0,
        f64::MAX,
        -f64::MAX,
        8.98846567431158e307,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE * 1.5,
        1.4916681462400413e-154,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut v: Vec<u64> = vals.iter().map(|x| x.to_bits()).collect();
    v.push(1); // smallest denormal
    v.push(0x800f_ffff_ffff_ffff); // largest denormal, negative
    v.push(0x0010_0000_0000_0001); // just above the smallest normal
    v.push(0x3fef_ffff_ffff_ffff); // just below 1: products at the underflow boundary
    v.push(0x7fef_ffff_ffff_fffe); // just below MAX
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
        3.0,
        0.1,
        -1.0 / 3.0,
        1.0 + f32::EPSILON,
        f32::EPSILON / 2.0,
        16777216.0,
        f32::MAX,
        -f32::MAX,
        1.7014118e38,
        f32::MIN_POSITIVE,
        1.0842022e-19,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut v: Vec<u32> = vals.iter().map(|x| x.to_bits()).collect();
    v.extend([1, 0x807f_ffff, 0x0080_0001, 0x3f7f_ffff, 0x7f7f_fffe]);
    v.extend([0x7fc0_1234, 0xffa0_0001]);
    v
}

/// Runs each snippet from every MXCSR setting over `inputs` (xmm0, xmm1; rax = low xmm0,
/// rbx = low xmm1), comparing all MXCSR bits.
fn run(snips: &[(&str, Snip)], inputs: &[(u128, u128)]) -> usize {
    let mut n = 0;
    for (name, f) in snips {
        let code = assemble(&**f);
        for mxcsr in mxcsrs() {
            for &(a, b) in inputs {
                let mut s = State {
                    mxcsr,
                    ..State::default()
                };
                s.xmm[0] = a;
                s.xmm[1] = b;
                s.gpr[0] = a as u64;
                s.gpr[3] = b as u64;
                check_code_mxcsr(name, &code, &s, FLAGS, u32::MAX);
                n += 1;
            }
        }
    }
    n
}

#[test]
fn sse_double_rounding_and_flags() {
    let d = f64_values();
    let mut pairs = Vec::new();
    for (i, &x) in d.iter().enumerate() {
        for &y in &d {
            let z = d[(i + 5) % d.len()] as u128;
            pairs.push((x as u128 | (y as u128) << 64, y as u128 | z << 64));
        }
    }
    let s = snips![
        "addsd" => |a| a.addsd(xmm0, xmm1),
        "subsd" => |a| a.subsd(xmm0, xmm1),
        "mulsd" => |a| a.mulsd(xmm0, xmm1),
        "divsd" => |a| a.divsd(xmm0, xmm1),
        "sqrtsd" => |a| a.sqrtsd(xmm0, xmm1),
        "addpd" => |a| a.addpd(xmm0, xmm1),
        "mulpd" => |a| a.mulpd(xmm0, xmm1),
        "divpd" => |a| a.divpd(xmm0, xmm1),
        "sqrtpd" => |a| a.sqrtpd(xmm0, xmm0),
        "haddpd" => |a| a.haddpd(xmm0, xmm1),
        "addsubpd" => |a| a.addsubpd(xmm0, xmm1),
        "cvtsd2ss" => |a| a.cvtsd2ss(xmm0, xmm1),
        "cvtpd2ps" => |a| a.cvtpd2ps(xmm0, xmm0),
        "cvtsd2si" => |a| a.cvtsd2si(rcx, xmm1),
        "cvttsd2si" => |a| a.cvttsd2si(ecx, xmm1),
        "cvtpd2dq" => |a| a.cvtpd2dq(xmm2, xmm0),
        "minsd" => |a| a.minsd(xmm0, xmm1),
        "maxpd" => |a| a.maxpd(xmm0, xmm1),
        "ucomisd" => |a| a.ucomisd(xmm0, xmm1),
        "comisd" => |a| a.comisd(xmm0, xmm1),
        "cmpsd lt" => |a| a.cmpsd_3(xmm0, xmm1, 1),
        "cmppd neq" => |a| a.cmppd(xmm0, xmm1, 4),
        "roundsd mxcsr" => |a| a.roundsd(xmm0, xmm1, 4),
        "roundpd floor" => |a| a.roundpd(xmm0, xmm1, 1),
        "roundsd no PE" => |a| a.roundsd(xmm0, xmm1, 0xa),
    ];
    let n = run(&s, &pairs);
    std::eprintln!("sse_double_rounding_and_flags: {n} cases");
}

#[test]
fn sse_single_rounding_and_flags() {
    let f = f32_values();
    let mut pairs = Vec::new();
    for (i, &x) in f.iter().enumerate() {
        for (j, &y) in f.iter().enumerate() {
            let (u, w) = (
                f[(i + j) % f.len()] as u128,
                f[(i * 3 + 1) % f.len()] as u128,
            );
            pairs.push((
                x as u128 | (u << 32) | (w << 64) | (y as u128) << 96,
                y as u128 | (w << 32) | (x as u128) << 64 | (u << 96),
            ));
        }
    }
    let s = snips![
        "addss" => |a| a.addss(xmm0, xmm1),
        "subss" => |a| a.subss(xmm0, xmm1),
        "mulss" => |a| a.mulss(xmm0, xmm1),
        "divss" => |a| a.divss(xmm0, xmm1),
        "sqrtss" => |a| a.sqrtss(xmm0, xmm1),
        "subps" => |a| a.subps(xmm0, xmm1),
        "mulps" => |a| a.mulps(xmm0, xmm1),
        "divps" => |a| a.divps(xmm0, xmm1),
        "sqrtps" => |a| a.sqrtps(xmm0, xmm1),
        "haddps" => |a| a.haddps(xmm0, xmm1),
        "addsubps" => |a| a.addsubps(xmm0, xmm1),
        "cvtss2sd" => |a| a.cvtss2sd(xmm0, xmm1),
        "cvtps2pd" => |a| a.cvtps2pd(xmm0, xmm1),
        "cvtss2si" => |a| a.cvtss2si(rcx, xmm1),
        "cvtps2dq" => |a| a.cvtps2dq(xmm0, xmm1),
        "cvttps2dq" => |a| a.cvttps2dq(xmm0, xmm1),
        "maxss" => |a| a.maxss(xmm0, xmm1),
        "minps" => |a| a.minps(xmm0, xmm1),
        "ucomiss" => |a| a.ucomiss(xmm0, xmm1),
        "comiss" => |a| a.comiss(xmm0, xmm1),
        "cmpps le" => |a| a.cmpps(xmm0, xmm1, 2),
        "cmpss unord" => |a| a.cmpss(xmm0, xmm1, 3),
        "roundps mxcsr" => |a| a.roundps(xmm0, xmm1, 4),
        "roundss trunc" => |a| a.roundss(xmm0, xmm1, 3),
    ];
    let n = run(&s, &pairs);
    std::eprintln!("sse_single_rounding_and_flags: {n} cases");
}

#[test]
fn sse_int_to_float_rounding_and_flags() {
    let ints: [i64; 12] = [
        0,
        1,
        -1,
        (1 << 53) + 1,
        -((1 << 53) + 3),
        (1 << 24) + 1,
        i64::MAX,
        i64::MIN,
        0x7fff_ffff,
        -0x7fff_ffc1,
        0x1234_5678_9abc_def1,
        (1 << 54) + 2,
    ];
    let mut pairs = Vec::new();
    for &i in &ints {
        for &j in &ints {
            pairs.push((
                i as u64 as u128 | (j as u64 as u128) << 64,
                j as u64 as u128,
            ));
        }
    }
    let s = snips![
        "cvtsi2sd r64" => |a| a.cvtsi2sd(xmm2, rax),
        "cvtsi2ss r64" => |a| a.cvtsi2ss(xmm2, rbx),
        "cvtsi2ss r32" => |a| a.cvtsi2ss(xmm2, eax),
        "cvtsi2sd r32" => |a| a.cvtsi2sd(xmm2, ebx),
        "cvtdq2ps" => |a| a.cvtdq2ps(xmm2, xmm0),
        "cvtdq2pd" => |a| a.cvtdq2pd(xmm2, xmm0),
    ];
    let n = run(&s, &pairs);
    std::eprintln!("sse_int_to_float_rounding_and_flags: {n} cases");
}
