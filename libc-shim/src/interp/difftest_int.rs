//! Differential tests of the integer instructions against the host CPU (see `testing`): each
//! family runs over edge-value operands in every operand size, with flags the manuals leave
//! undefined masked out.

use std::boxed::Box;
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::flags::{AF, CF, DF, OF, PF, SF, ZF};
use super::testing::{EDGES, FLAGS, assemble, check_code, with};

type Snip = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

/// `op dst, src` in the four sizes on (rax, rbx).
macro_rules! sized2 {
    ($op:ident) => {
        [
            (
                concat!(stringify!($op), " al,bl"),
                Box::new(|a: &mut CodeAssembler| a.$op(al, bl)) as Snip,
            ),
            (
                concat!(stringify!($op), " ax,bx"),
                Box::new(|a: &mut CodeAssembler| a.$op(ax, bx)),
            ),
            (
                concat!(stringify!($op), " eax,ebx"),
                Box::new(|a: &mut CodeAssembler| a.$op(eax, ebx)),
            ),
            (
                concat!(stringify!($op), " rax,rbx"),
                Box::new(|a: &mut CodeAssembler| a.$op(rax, rbx)),
            ),
        ]
    };
}

/// `op dst, src` in the 16/32/64-bit sizes on (rax, rbx).
macro_rules! wide2 {
    ($op:ident) => {
        [
            (
                concat!(stringify!($op), " ax,bx"),
                Box::new(|a: &mut CodeAssembler| a.$op(ax, bx)) as Snip,
            ),
            (
                concat!(stringify!($op), " eax,ebx"),
                Box::new(|a: &mut CodeAssembler| a.$op(eax, ebx)),
            ),
            (
                concat!(stringify!($op), " rax,rbx"),
                Box::new(|a: &mut CodeAssembler| a.$op(rax, rbx)),
            ),
        ]
    };
}

/// `op dst` (or `op dst, cl`) in the four sizes on rax.
macro_rules! sized1 {
    ($op:ident $(, $src:expr)?) => {
        [
            (concat!(stringify!($op), " al"), Box::new(|a: &mut CodeAssembler| a.$op(al $(, $src)?)) as Snip),
            (concat!(stringify!($op), " ax"), Box::new(|a: &mut CodeAssembler| a.$op(ax $(, $src)?))),
            (concat!(stringify!($op), " eax"), Box::new(|a: &mut CodeAssembler| a.$op(eax $(, $src)?))),
            (concat!(stringify!($op), " rax"), Box::new(|a: &mut CodeAssembler| a.$op(rax $(, $src)?))),
        ]
    };
}

fn run_pairs(snips: Vec<(&str, Snip)>, mask: u64) -> usize {
    let mut n = 0;
    for (name, f) in &snips {
        let code = assemble(&**f);
        for &a in &EDGES {
            for &b in &EDGES {
                for fl in [0, CF | ZF | SF | OF | PF | AF] {
                    check_code(name, &code, &with(a, b, 0, fl), mask);
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn alu_binops() {
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.extend(sized2!(add));
    v.extend(sized2!(adc));
    v.extend(sized2!(sub));
    v.extend(sized2!(sbb));
    v.extend(sized2!(cmp));
    v.extend(sized2!(xadd));
    v.extend(sized2!(cmpxchg));
    let n = run_pairs(v, FLAGS);
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.extend(sized2!(and));
    v.extend(sized2!(or));
    v.extend(sized2!(xor));
    v.extend(sized2!(test));
    v.extend(sized2!(xchg));
    v.extend(sized2!(mov));
    let n = n + run_pairs(v, FLAGS & !AF);
    std::eprintln!("alu_binops: {n} cases");
}

#[test]
fn alu_unops_and_immediates() {
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.extend(sized1!(inc));
    v.extend(sized1!(dec));
    v.extend(sized1!(neg));
    v.extend(sized1!(not));
    v.push(("add eax,-1", Box::new(|a| a.add(eax, -1))));
    v.push(("sub rax,0x7fffffff", Box::new(|a| a.sub(rax, 0x7fff_ffff))));
    v.push(("adc rax,-128", Box::new(|a| a.adc(rax, -128))));
    v.push(("cmp ax,0x8000", Box::new(|a| a.cmp(ax, 0x8000u32 as i32))));
    v.push(("and rax,-16", Box::new(|a| a.and(rax, -16))));
    v.push(("or ah,bh", Box::new(|a| a.or(ah, bh))));
    v.push(("xor spl,dil", Box::new(|a| a.xor(r8b, dil))));
    v.push(("add bh,al", Box::new(|a| a.add(bh, al))));
    v.push((
        "mov rax,imm64",
        Box::new(|a| a.mov(rax, 0x1122_3344_5566_7788u64)),
    ));
    v.push(("mov eax,-1", Box::new(|a| a.mov(eax, -1))));
    v.push(("mov rax,-1 (imm32)", Box::new(|a| a.mov(rax, -1i64))));
    v.push(("movzx eax,bl", Box::new(|a| a.movzx(eax, bl))));
    v.push(("movzx rax,bx", Box::new(|a| a.movzx(rax, bx))));
    v.push(("movsx eax,bh", Box::new(|a| a.movsx(eax, bh))));
    v.push(("movsx rax,bx", Box::new(|a| a.movsx(rax, bx))));
    v.push(("movsxd rax,ebx", Box::new(|a| a.movsxd(rax, ebx))));
    v.push((
        "lea",
        Box::new(|a| a.lea(rax, qword_ptr(rax + rbx * 4 - 8))),
    ));
    v.push((
        "lea32",
        Box::new(|a| a.lea(eax, dword_ptr(rax + rbx * 8 + 0x7fff_ffff))),
    ));
    v.push(("cbw", Box::new(|a| a.cbw())));
    v.push(("cwde", Box::new(|a| a.cwde())));
    v.push(("cdqe", Box::new(|a| a.cdqe())));
    v.push(("cwd", Box::new(|a| a.cwd())));
    v.push(("cdq", Box::new(|a| a.cdq())));
    v.push(("cqo", Box::new(|a| a.cqo())));
    v.push(("bswap eax", Box::new(|a| a.bswap(eax))));
    v.push(("bswap rbx", Box::new(|a| a.bswap(rbx))));
    v.push(("popcnt", Box::new(|a| a.popcnt(rax, rbx))));
    v.push(("popcnt16", Box::new(|a| a.popcnt(ax, bx))));
    v.push(("lahf", Box::new(|a| a.lahf())));
    v.push(("sahf", Box::new(|a| a.sahf())));
    v.push(("cmc", Box::new(|a| a.cmc())));
    v.push((
        "clc;stc",
        Box::new(|a| {
            a.clc()?;
            a.stc()
        }),
    ));
    v.push((
        "std;cld",
        Box::new(|a| {
            a.std()?;
            a.pushfq()?;
            a.pop(rdx)?;
            a.cld()
        }),
    ));
    v.push((
        "pushf/popf",
        Box::new(|a| {
            // The arithmetic flags, DF and NT.
            a.and(rbx, 0x4cd5)?;
            a.push(rbx)?;
            a.popfq()?;
            a.pushfq()?;
            a.pop(rdx)?;
            a.and(rdx, 0x4cd5)?;
            a.cld()
        }),
    ));
    v.push(("andn", Box::new(|a| a.andn(rax, rbx, rcx))));
    v.push(("blsr", Box::new(|a| a.blsr(rax, rbx))));
    v.push(("blsi", Box::new(|a| a.blsi(eax, ebx))));
    v.push(("blsmsk", Box::new(|a| a.blsmsk(rax, rbx))));
    v.push(("bextr", Box::new(|a| a.bextr(rax, rbx, rcx))));
    let n = run_pairs(v, FLAGS & !AF & !(PF));
    std::eprintln!("alu_unops_and_immediates: {n} cases");
}

#[test]
fn cmov_setcc_jcc() {
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.push((
        "cmp;setcc all",
        Box::new(|a| {
            a.cmp(rax, rbx)?;
            a.seto(cl)?;
            a.setb(ch)?;
            a.sete(dl)?;
            a.setbe(dh)?;
            a.sets(sil)?;
            a.setp(dil)?;
            a.setl(r8b)?;
            a.setle(r9b)?;
            a.setno(r10b)?;
            a.setae(r11b)?;
            a.setne(r12b)?;
            a.seta(r13b)?;
            a.setns(r14b)?;
            a.setnp(r15b)?;
            a.setge(bl)?;
            a.setg(bh)
        }),
    ));
    v.push((
        "cmp32;cmov",
        Box::new(|a| {
            a.cmp(eax, ebx)?;
            a.cmovl(ecx, eax)?;
            a.cmovg(edx, ebx)?;
            a.cmove(rsi, rax)?;
            a.cmovne(rdi, rbx)?;
            a.cmovb(r8w, ax)?;
            a.cmova(r9, rbx)
        }),
    ));
    v.push((
        "sub8;jcc",
        Box::new(|a| {
            let mut l1 = a.create_label();
            let mut l2 = a.create_label();
            a.sub(al, bl)?;
            a.mov(ecx, 0)?;
            a.jle(l1)?;
            a.mov(ecx, 1)?;
            a.set_label(&mut l1)?;
            a.jo(l2)?;
            a.add(ecx, 2)?;
            a.set_label(&mut l2)?;
            a.nop()
        }),
    ));
    let n = run_pairs(v, FLAGS);
    std::eprintln!("cmov_setcc_jcc: {n} cases");
}

#[test]
fn shifts_and_rotates() {
    let mut n = 0;
    let counts = [0u64, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255];
    let mut v: Vec<(&str, Snip, u32)> = Vec::new();
    macro_rules! four {
        ($op:ident) => {
            for (i, (name, f)) in sized1!($op, cl).into_iter().enumerate() {
                v.push((name, f, 8 << i));
            }
        };
    }
    four!(shl);
    four!(shr);
    four!(sar);
    four!(rol);
    four!(ror);
    four!(rcl);
    four!(rcr);
    for (name, f, bits) in &v {
        let code = assemble(&**f);
        let rot = name.starts_with('r');
        for &a in &EDGES {
            for &cnt in &counts {
                let masked = cnt & if *bits == 64 { 63 } else { 31 };
                let mut mask = FLAGS & !AF;
                if masked != 1 {
                    mask &= !OF;
                }
                if !rot && masked > *bits as u64 {
                    mask &= !CF;
                }
                for fl in [0, CF | OF] {
                    check_code(name, &code, &with(a, 0, cnt, fl), mask);
                    n += 1;
                }
            }
        }
    }
    let dbl: [(&str, Snip, u64); 6] = [
        ("shld ax,bx,cl", Box::new(|a| a.shld(ax, bx, cl)), 16),
        ("shld eax,ebx,cl", Box::new(|a| a.shld(eax, ebx, cl)), 32),
        ("shld rax,rbx,cl", Box::new(|a| a.shld(rax, rbx, cl)), 64),
        ("shrd ax,bx,cl", Box::new(|a| a.shrd(ax, bx, cl)), 16),
        ("shrd eax,ebx,cl", Box::new(|a| a.shrd(eax, ebx, cl)), 32),
        ("shrd rax,rbx,cl", Box::new(|a| a.shrd(rax, rbx, cl)), 64),
    ];
    for (name, f, bits) in &dbl {
        let code = assemble(&**f);
        for &a in &EDGES {
            for &b in &EDGES[..8] {
                for &cnt in &counts {
                    let masked = cnt & if *bits == 64 { 63 } else { 31 };
                    if masked > *bits {
                        continue;
                    }
                    let mut mask = FLAGS & !AF;
                    if masked != 1 {
                        mask &= !OF;
                    }
                    check_code(name, &code, &with(a, b, cnt, 0), mask);
                    n += 1;
                }
            }
        }
    }
    std::eprintln!("shifts_and_rotates: {n} cases");
}

#[test]
fn mul_div() {
    let mut v: Vec<(&str, Snip)> = std::vec![("mul bl", Box::new(|a| a.mul(bl)))];
    v.push(("mul bx", Box::new(|a| a.mul(bx))));
    v.push(("mul ebx", Box::new(|a| a.mul(ebx))));
    v.push(("mul rbx", Box::new(|a| a.mul(rbx))));
    v.push(("imul bl", Box::new(|a| a.imul(bl))));
    v.push(("imul bx", Box::new(|a| a.imul(bx))));
    v.push(("imul ebx", Box::new(|a| a.imul(ebx))));
    v.push(("imul rbx", Box::new(|a| a.imul(rbx))));
    v.push(("imul ax,bx", Box::new(|a| a.imul_2(ax, bx))));
    v.push(("imul eax,ebx", Box::new(|a| a.imul_2(eax, ebx))));
    v.push(("imul rax,rbx", Box::new(|a| a.imul_2(rax, rbx))));
    v.push(("imul rax,rbx,-3", Box::new(|a| a.imul_3(rax, rbx, -3))));
    v.push((
        "imul ecx,ebx,0x12345",
        Box::new(|a| a.imul_3(ecx, ebx, 0x12345)),
    ));
    let n = run_pairs(v, CF | OF | DF);
    let mut n2 = 0;
    let divs: [(&str, Snip, u32, bool); 8] = [
        ("div bl", Box::new(|a| a.div(bl)), 1, false),
        ("div bx", Box::new(|a| a.div(bx)), 2, false),
        ("div ebx", Box::new(|a| a.div(ebx)), 4, false),
        ("div rbx", Box::new(|a| a.div(rbx)), 8, false),
        ("idiv bl", Box::new(|a| a.idiv(bl)), 1, true),
        ("idiv bx", Box::new(|a| a.idiv(bx)), 2, true),
        ("idiv ebx", Box::new(|a| a.idiv(ebx)), 4, true),
        ("idiv rbx", Box::new(|a| a.idiv(rbx)), 8, true),
    ];
    for (name, f, size, signed) in &divs {
        let code = assemble(&**f);
        for &a in &EDGES {
            for &d in &EDGES {
                for &b in &EDGES {
                    let mut s = with(a, b, 0, 0);
                    s.gpr[2] = d;
                    if divides(&s.gpr, *size, *signed) {
                        check_code(name, &code, &s, DF);
                        n2 += 1;
                    } else {
                        let (_, exit) = super::testing::run_interp(&code, &s);
                        assert_eq!(
                            exit,
                            super::Exit::DivideError,
                            "{name} {a:#x} {d:#x} / {b:#x}"
                        );
                    }
                }
            }
        }
    }
    std::eprintln!("mul_div: {n} + {n2} cases");
}

#[test]
fn bit_ops() {
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.extend(wide2!(bt));
    v.extend(wide2!(bts));
    v.extend(wide2!(btr));
    v.extend(wide2!(btc));
    v.push(("bt eax,13", Box::new(|a| a.bt(eax, 13))));
    v.push(("btc rax,63", Box::new(|a| a.btc(rax, 63))));
    v.push((
        "bts [rsi],rbx",
        Box::new(|a| {
            a.and(rbx, 0xfff)?;
            a.sub(rbx, 0x800)?;
            a.bts(qword_ptr(rsi + 0x400), rbx)
        }),
    ));
    v.push((
        "btr [rsi],ebx",
        Box::new(|a| {
            a.and(ebx, 0xfff)?;
            a.sub(ebx, 0x800)?;
            a.btr(dword_ptr(rsi + 0x400), ebx)
        }),
    ));
    v.push((
        "btc [rsi],bx",
        Box::new(|a| {
            a.and(ebx, 0xfff)?;
            a.btc(word_ptr(rsi + 0x400), bx)
        }),
    ));
    v.push(("bt [rsi],35", Box::new(|a| a.bt(dword_ptr(rsi), 35))));
    let n = run_pairs(v, CF | DF);
    let mut v: Vec<(&str, Snip)> = std::vec![("bsf", Box::new(|a| a.bsf(rax, rbx)))];
    v.push(("bsr", Box::new(|a| a.bsr(rax, rbx))));
    v.push(("bsf32", Box::new(|a| a.bsf(eax, ebx))));
    v.push(("bsr16", Box::new(|a| a.bsr(ax, bx))));
    let n = n + run_pairs(v, ZF | DF);
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.push(("tzcnt", Box::new(|a| a.tzcnt(rax, rbx))));
    v.push(("lzcnt", Box::new(|a| a.lzcnt(rax, rbx))));
    v.push(("tzcnt32", Box::new(|a| a.tzcnt(eax, ebx))));
    v.push(("lzcnt16", Box::new(|a| a.lzcnt(ax, bx))));
    v.push((
        "movbe",
        Box::new(|a| {
            a.movbe(dword_ptr(rsi), ebx)?;
            a.movbe(ax, word_ptr(rsi + 1))?;
            a.movbe(rcx, qword_ptr(rsi + 3))
        }),
    ));
    let n = n + run_pairs(v, ZF | CF | DF);
    std::eprintln!("bit_ops: {n} cases");
}

/// Whether `div`/`idiv` of `size` bytes by rbx succeeds for these registers.
fn divides(g: &[u64; 16], size: u32, signed: bool) -> bool {
    let bits = size * 8;
    let m = if size == 8 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let (hi, lo) = if size == 1 {
        ((g[0] >> 8) & 0xff, g[0] & 0xff)
    } else {
        (g[2] & m, g[0] & m)
    };
    let d = g[3] & m;
    if d == 0 {
        return false;
    }
    if signed {
        let sh = 128 - 2 * bits;
        let n = ((((hi as u128) << bits) | lo as u128) << sh) as i128 >> sh;
        let dsh = 64 - bits;
        let d = ((d << dsh) as i64 >> dsh) as i128;
        let Some(q) = n.checked_div(d) else {
            return false;
        };
        q >= -(1i128 << (bits - 1)) && q < (1i128 << (bits - 1))
    } else {
        ((((hi as u128) << bits) | lo as u128) / d as u128) <= m as u128
    }
}
