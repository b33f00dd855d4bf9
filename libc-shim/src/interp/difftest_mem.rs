//! Differential tests of memory operands, the stack, control flow, string instructions and
//! atomics against the host CPU, plus the exits (faults, traps, syscall) in the interpreter.

use std::boxed::Box;
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::testing::{DATA, EDGES, FLAGS, REGION, State, assemble, check_code, run_interp, with};
use super::{Exit, Interp};
use crate::cpu::Cpu;

type Snip = Box<dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>>;

fn run_pairs(snips: Vec<(&str, Snip)>, mask: u64) -> usize {
    let mut n = 0;
    for (name, f) in &snips {
        let code = assemble(&**f);
        for &a in &EDGES {
            for &b in &EDGES {
                check_code(name, &code, &with(a, b, 0, 0), mask);
                n += 1;
            }
        }
    }
    n
}

#[test]
fn memory_stack_and_strings() {
    let mut v: Vec<(&str, Snip)> = Vec::new();
    v.push((
        "add [rsi+rbx*1],al",
        Box::new(|a| {
            a.and(rbx, 0xff)?;
            a.add(byte_ptr(rsi + rbx + 3), al)?;
            a.sub(qword_ptr(rsi + rbx * 8), rax)?;
            a.adc(word_ptr(rdi - 2), 0x1234)?;
            a.xor(dword_ptr(rbp), eax)?;
            a.neg(qword_ptr(rdi))?;
            a.shl(dword_ptr(rsi + 8), 3)?;
            a.rcr(byte_ptr(rsi + 9), 1)
        }),
    ));
    v.push((
        "rip-relative",
        Box::new(|a| {
            a.mov(rcx, qword_ptr(DATA + 0x40))?;
            a.lea(rdx, qword_ptr(DATA + 0x80))?;
            a.add(qword_ptr(rdx), rax)
        }),
    ));
    v.push((
        "push/pop/call/ret",
        Box::new(|a| {
            let mut f = a.create_label();
            let mut done = a.create_label();
            a.push(rax)?;
            a.push(-5)?;
            a.push(word_ptr(rsi))?;
            a.pop(cx)?;
            a.pop(rdx)?;
            a.call(f)?;
            a.jmp(done)?;
            a.set_label(&mut f)?;
            a.push(rbp)?;
            a.mov(rbp, rsp)?;
            a.sub(rsp, 32)?;
            a.mov(qword_ptr(rbp - 8), rbx)?;
            a.leave()?;
            a.ret_1(0)?;
            a.set_label(&mut done)?;
            a.pop(r8)?;
            a.push(rsp)?;
            a.pop(r9)?;
            a.enter(24, 0)?;
            a.leave()?;
            a.enter(16, 2)?;
            a.leave()
        }),
    ));
    v.push((
        "enterw/leavew (2-byte pushes and pop into bp)",
        Box::new(|a| {
            a.mov(word_ptr(rbp - 2), 0x1234)?;
            // enterw 24, 0; leavew; enterw 16, 2; mov bx, [rsp+18]; leavew
            a.db(&[0x66, 0xc8, 0x18, 0x00, 0x00, 0x66, 0xc9])?;
            a.db(&[0x66, 0xc8, 0x10, 0x00, 0x02])?;
            a.mov(rbx, rsp)?;
            a.mov(ecx, dword_ptr(rsp + 16))?;
            a.db(&[0x66, 0xc9])
        }),
    ));
    v.push((
        "xlatb",
        Box::new(|a| {
            a.mov(rbx, rsi)?;
            a.mov(byte_ptr(rsi + 0xc5), 0x7e)?;
            a.mov(eax, 0x1234_56c5)?;
            a.xlatb()
        }),
    ));
    v.push((
        "loop",
        Box::new(|a| {
            let mut top = a.create_label();
            let mut end = a.create_label();
            a.mov(ecx, 10)?;
            a.xor(edx, edx)?;
            a.set_label(&mut top)?;
            a.add(rdx, rcx)?;
            a.loop_(top)?;
            a.jrcxz(end)?;
            a.inc(edx)?;
            a.set_label(&mut end)?;
            a.nop()
        }),
    ));
    v.push((
        "rep movsb/stosq/lodsd",
        Box::new(|a| {
            a.and(ecx, 0x3ff)?;
            a.mov(r8, rcx)?;
            a.rep().movsb()?;
            a.mov(rcx, r8)?;
            a.shr(ecx, 3)?;
            a.rep().stosq()?;
            a.lodsd()?;
            a.std()?;
            a.mov(ecx, 5)?;
            a.rep().movsw()?;
            a.cld()
        }),
    ));
    v.push((
        "repne scasb / repe cmpsq",
        Box::new(|a| {
            a.and(ecx, 0xfff)?;
            a.repne().scasb()?;
            a.mov(r8, rcx)?;
            a.mov(ecx, 64)?;
            a.mov(rdi, rsi)?;
            a.add(rdi, 8)?;
            a.repe().cmpsq()?;
            a.cmpsb()
        }),
    ));
    v.push((
        "cmpxchg mem/8b/16b",
        Box::new(|a| {
            a.cmpxchg(qword_ptr(rsi), rbx)?;
            a.mov(rax, qword_ptr(rsi + 8))?;
            a.lock().cmpxchg(qword_ptr(rsi + 8), rcx)?;
            a.cmpxchg8b(qword_ptr(rsi + 16))?;
            a.cmpxchg16b(xmmword_ptr(rsi + 32))?;
            a.lock().xadd(dword_ptr(rsi + 48), eax)?;
            a.xchg(qword_ptr(rsi + 56), rdx)
        }),
    ));
    v.push((
        "fs-less segments",
        Box::new(|a| {
            a.mov(rax, qword_ptr(rbp + 0x28))?;
            a.mov(qword_ptr(rbp + 0x30), rax)
        }),
    ));
    let n = run_pairs(v, FLAGS);
    std::eprintln!("memory_stack_and_strings: {n} cases");
}

#[test]
fn exits() {
    let cases: [(Snip, Exit); 5] = [
        (Box::new(|a| a.ud2()), Exit::InvalidOpcode),
        (Box::new(|a| a.int3()), Exit::Breakpoint),
        (Box::new(|a| a.syscall()), Exit::Syscall),
        (Box::new(|a| a.xgetbv()), Exit::InvalidOpcode),
        (
            Box::new(|a| a.mov(rax, qword_ptr(0x10u64))),
            Exit::Fault {
                signal: 11,
                addr: 0x10,
                write: false,
            },
        ),
    ];
    for (f, want) in &cases {
        let (_, exit) = run_interp(&assemble(&**f), &State::default());
        assert_eq!(exit, *want);
    }
    // A faulting store commits nothing.
    let f: Snip = Box::new(|a| {
        a.push(rax)?;
        a.mov(rsp, 0x1000u64)?;
        a.push(rbx)
    });
    let s = State::default();
    let (out, exit) = run_interp(&assemble(&*f), &s);
    assert_eq!(
        exit,
        Exit::Fault {
            signal: 11,
            addr: 0xff8,
            write: true
        }
    );
    assert_eq!(out.gpr[4], 0x1000);
}

#[test]
fn fs_and_gs_bases() {
    let code = assemble(&|a| {
        a.mov(rax, qword_ptr(0x28).fs())?;
        a.mov(rbx, qword_ptr(0).fs())?;
        a.mov(qword_ptr(rcx + 8).gs(), rax)?;
        a.lea(rdx, qword_ptr(rcx + 8).gs())
    });
    let mut h = crate::mem::testing::host_mem(REGION + 0x10000);
    let m = &mut h.mem;
    m.protect(REGION, 0x10000, crate::mem::perm::RWX).unwrap();
    m.slice_mut(REGION + 0x400, code.len() as u64)
        .unwrap()
        .copy_from_slice(&code);
    m.write_u8(REGION + 0x2000, 0xf4).unwrap();
    m.write_u64(DATA + 0x28, 0xc0ffee).unwrap();
    m.write_u64(DATA, DATA).unwrap();
    let mut cpu = Cpu {
        rip: REGION + 0x400,
        fs_base: DATA,
        gs_base: DATA + 0x100,
        ..Cpu::default()
    };
    cpu.gpr[1] = 0x10;
    assert_eq!(Interp::new().run(&mut cpu, m, 100), Exit::Halt);
    assert_eq!(cpu.gpr[0], 0xc0ffee);
    assert_eq!(cpu.gpr[3], DATA);
    assert_eq!(m.read_u64(DATA + 0x118).unwrap(), 0xc0ffee);
    assert_eq!(cpu.gpr[2], 0x18, "lea ignores the segment base");
}
