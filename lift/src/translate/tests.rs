//! Lifted versus interpreted, from the same state: registers and memory must agree (flags
//! through setcc/pushf).

use iced_x86::code_asm::*;

use iced_x86::BlockEncoderOptions;
use std::collections::BTreeMap;

use super::testing::{CODE, assemble, check_same, check_same_tables, counting_loop, start_state};

#[test]
fn loop_with_flags() {
    let c = check_same(&counting_loop(), &[CODE], &start_state(&[]));
    assert_eq!(c.interpreted, 0);
}

#[test]
fn recursive_fib_uses_wasm_calls() {
    let code = assemble(&|a| {
        let mut fib = a.create_label();
        let mut small = a.create_label();
        a.set_label(&mut fib)?;
        a.cmp(edi, 1)?;
        a.jle(small)?;
        a.push(rbx)?;
        a.push(rbp)?;
        a.mov(ebx, edi)?;
        a.lea(edi, ptr(rdi - 1))?;
        a.call(fib)?;
        a.mov(ebp, eax)?;
        a.lea(edi, ptr(rbx - 2))?;
        a.call(fib)?;
        a.add(eax, ebp)?;
        a.pop(rbp)?;
        a.pop(rbx)?;
        a.ret()?;
        a.set_label(&mut small)?;
        a.mov(eax, edi)?;
        a.ret()
    });
    let c = check_same(&code, &[CODE], &start_state(&[(7, 15)]));
    assert_eq!(c.interpreted, 0);
    assert_eq!(c.lifted_calls, 1, "one entry, every call inside Wasm");
}

#[test]
fn every_condition_after_cmp_sub_add_and_logic() {
    let values: [u64; 7] = [
        0,
        1,
        0x7f,
        0x80,
        0xffff_ffff,
        0x8000_0000_0000_0000,
        u64::MAX,
    ];
    for &x in &values {
        for &y in &values {
            // Each producer is read in its own block and, through a jump, in the next one (where
            // the translator knows the producer only at run time).
            let code = assemble(&|a| {
                for (i, (op, split)) in [
                    "cmp", "sub", "add", "and", "test", "inc", "dec", "neg", "or", "mul",
                ]
                .iter()
                .flat_map(|op| [(op, false), (op, true)])
                .enumerate()
                {
                    a.mov(rax, rdi)?;
                    match *op {
                        "cmp" => a.cmp(eax, esi)?,
                        "sub" => a.sub(rax, rsi)?,
                        "add" => a.add(al, sil)?,
                        "and" => a.and(ax, si)?,
                        "test" => a.test(rax, rsi)?,
                        "inc" => a.inc(eax)?,
                        "dec" => a.dec(rax)?,
                        "neg" => a.neg(al)?,
                        "mul" => a.mul(esi)?,
                        _ => a.or(eax, esi)?,
                    }
                    if split {
                        let mut next = a.create_label();
                        a.jmp(next)?;
                        a.set_label(&mut next)?;
                    }
                    let m = qword_ptr(0x600000 + 0x100 * i as u64);
                    a.sete(byte_ptr(0x600000 + 0x100 * i as u64))?;
                    a.setb(byte_ptr(0x600001 + 0x100 * i as u64))?;
                    a.setbe(byte_ptr(0x600002 + 0x100 * i as u64))?;
                    a.setl(byte_ptr(0x600003 + 0x100 * i as u64))?;
                    a.setle(byte_ptr(0x600004 + 0x100 * i as u64))?;
                    a.sets(byte_ptr(0x600005 + 0x100 * i as u64))?;
                    a.seto(byte_ptr(0x600006 + 0x100 * i as u64))?;
                    a.setp(byte_ptr(0x600007 + 0x100 * i as u64))?;
                    a.setg(byte_ptr(0x600008 + 0x100 * i as u64))?;
                    a.seta(byte_ptr(0x600009 + 0x100 * i as u64))?;
                    a.cmovge(rbx, rax)?;
                    a.cmovo(ecx, eax)?;
                    a.mov(m + 0x10, rax)?;
                }
                a.ret()
            });
            check_same(
                &code,
                &[CODE],
                &start_state(&[(7, x), (6, y), (3, 5), (1, 9)]),
            );
        }
    }
}

#[test]
fn partial_registers_shifts_and_extensions() {
    let code = assemble(&|a| {
        a.mov(rax, 0x1122_3344_5566_7788u64)?;
        a.mov(ah, 0x99)?;
        a.mov(bx, ax)?;
        a.movsx(ecx, ah)?;
        a.movzx(edx, bx)?;
        a.movsxd(r8, eax)?;
        a.shl(rax, 5)?;
        a.sar(r8d, 3)?;
        a.shr(rcx, cl)?;
        a.imul_3(r9, rcx, 12345)?;
        a.imul_2(r9d, edx)?;
        a.cdqe()?;
        a.cqo()?;
        a.xchg(r10, rax)?;
        a.lea(r11, ptr(r10 + r9 * 4 + 0x10))?;
        a.lea(r12d, ptr(r10 + r9 * 8 - 7))?;
        a.push(r11)?;
        a.push(0x1234)?;
        a.pop(r13)?;
        a.pop(r14)?;
        a.not(r14)?;
        a.rol(r14, 13)?;
        a.ret()
    });
    check_same(&code, &[CODE], &start_state(&[]));
}

#[test]
fn division_bit_scans_carries_and_sse() {
    let code = assemble(&|a| {
        a.mov(eax, 1000)?;
        a.xor(edx, edx)?;
        a.mov(ecx, 7)?;
        a.div(ecx)?;
        a.bsf(r8, rax)?;
        a.movq(xmm0, rax)?;
        a.paddq(xmm0, xmm0)?;
        a.movq(rbx, xmm0)?;
        a.adc(rbx, 3)?;
        a.bt(rbx, 2)?;
        a.setc(sil)?;
        a.ret()
    });
    check_same(&code, &[CODE], &start_state(&[]));
}

#[test]
fn jump_table_and_memory_operands() {
    // A switch through a table of 8-byte entries the code fills in first.
    let mut a = CodeAssembler::new(64).unwrap();
    let mut done = a.create_label();
    let mut jmp = a.create_label();
    let mut cases: Vec<CodeLabel> = (0..4).map(|_| a.create_label()).collect();
    let mut top = a.create_label();
    for (i, c) in cases.iter().enumerate() {
        a.lea(rsi, ptr(*c)).unwrap();
        a.mov(qword_ptr(0x600100 + 8 * i as u64), rsi).unwrap();
    }
    a.xor(eax, eax).unwrap();
    a.mov(ecx, 0).unwrap();
    a.set_label(&mut top).unwrap();
    a.mov(edx, ecx).unwrap();
    a.and(edx, 3).unwrap();
    a.set_label(&mut jmp).unwrap();
    a.jmp(qword_ptr(0x600100 + rdx * 8)).unwrap();
    for (i, c) in cases.iter_mut().enumerate() {
        a.set_label(c).unwrap();
        a.add(eax, (i as i32 + 1) * 3).unwrap();
        a.jmp(done).unwrap();
    }
    a.set_label(&mut done).unwrap();
    a.inc(ecx).unwrap();
    a.cmp(ecx, 40).unwrap();
    a.jb(top).unwrap();
    a.mov(dword_ptr(0x600000), eax).unwrap();
    a.add(dword_ptr(0x600000), 5).unwrap();
    a.ret().unwrap();
    let r = a
        .assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .unwrap();
    let code = r.inner.code_buffer.clone();
    let targets: Vec<u64> = cases.iter().map(|c| r.label_ip(c).unwrap()).collect();
    let tables = BTreeMap::from([(r.label_ip(&jmp).unwrap(), targets)]);
    let without = check_same(&code, &[CODE], &start_state(&[]));
    let with = check_same_tables(&code, &[CODE], tables, &start_state(&[]));
    assert_eq!(
        with.interpreted, 0,
        "the table keeps the switch inside Wasm: {with:?}"
    );
    assert_eq!(with.lifted_calls, 1, "{with:?}");
    // Without the table the cases are unknown code: the runtime interprets them.
    assert!(without.interpreted > 0, "{without:?}");
}

#[test]
fn shifts_with_flags_rotates_scans_carries_and_exchanges() {
    for &(x, y) in &[
        (0u64, 0u64),
        (1, 3),
        (0x8000_0001, 0xffff_ffff),
        (u64::MAX, 1),
        (0x1234_5678_9abc_def0, 0x10),
    ] {
        let code = assemble(&|a| {
            a.mov(r10, rdi)?;
            a.bswap(r10)?;
            a.mov(qword_ptr(0x600100), r10)?;
            a.mov(r10, rsi)?;
            a.bswap(r10d)?;
            a.mov(qword_ptr(0x600108), r10)?;
            a.mov(rax, rdi)?;
            a.shl(eax, 1)?;
            a.setc(byte_ptr(0x600000))?;
            a.seto(byte_ptr(0x600001))?;
            a.sete(byte_ptr(0x600002))?;
            a.mov(rbx, rdi)?;
            a.shr(rbx, 7)?;
            a.setc(byte_ptr(0x600003))?;
            a.sets(byte_ptr(0x600004))?;
            a.mov(rcx, rdi)?;
            a.sar(cl, 1)?;
            a.seto(byte_ptr(0x600005))?;
            a.setc(byte_ptr(0x600006))?;
            a.mov(rdx, rdi)?;
            a.rol(edx, 9)?;
            a.ror(rdx, 3)?;
            a.tzcnt(r8, rsi)?;
            a.lzcnt(r9d, esi)?;
            a.popcnt(r10, rdi)?;
            a.mov(r11, 77u64)?;
            a.bsf(r11, rsi)?;
            a.mov(r12d, 55)?;
            a.bsr(r12d, edi)?;
            a.mov(r13, rdi)?;
            a.add(r13, rsi)?;
            a.adc(r13, rdi)?;
            a.sbb(r13d, esi)?;
            a.setc(byte_ptr(0x600007))?;
            a.setl(byte_ptr(0x600008))?;
            a.mov(qword_ptr(0x600010), rsi)?;
            a.xchg(qword_ptr(0x600010), r13)?;
            a.xadd(qword_ptr(0x600010), r13)?;
            a.sets(byte_ptr(0x600009))?;
            a.mov(rax, rsi)?;
            a.cmpxchg(qword_ptr(0x600010), rdi)?;
            a.sete(byte_ptr(0x60000a))?;
            a.mov(eax, 5)?;
            a.cmpxchg(dword_ptr(0x600010), esi)?;
            a.setb(byte_ptr(0x60000b))?;
            a.test(esi, esi)?;
            a.bt(rdi, 3)?;
            a.setb(byte_ptr(0x60000c))?;
            a.sete(byte_ptr(0x60000d))?;
            a.bts(dword_ptr(0x600010), 31)?;
            a.setb(byte_ptr(0x60000e))?;
            a.btr(r13, 63)?;
            a.btc(r13w, 5)?;
            a.setae(byte_ptr(0x60000f))?;
            a.ret()
        });
        check_same(&code, &[CODE], &start_state(&[(7, x), (6, y)]));
    }
}

#[test]
fn sse_moves_logic_lanes_and_shuffles() {
    let code = assemble(&|a| {
        a.mov(rax, 0x0102_0304_0506_0708u64)?;
        a.movq(xmm0, rax)?;
        a.mov(rbx, 0xff00_7f80_0011_2233u64)?;
        a.movq(xmm1, rbx)?;
        a.punpcklqdq(xmm0, xmm1)?;
        a.movdqa(xmm2, xmm0)?;
        a.pshufd(xmm3, xmm0, 0x1b)?;
        a.paddb(xmm2, xmm3)?;
        a.psubw(xmm2, xmm1)?;
        a.pcmpeqb(xmm3, xmm0)?;
        a.pmovmskb(ecx, xmm3)?;
        a.pcmpgtb(xmm1, xmm0)?;
        a.pminub(xmm1, xmm2)?;
        a.pandn(xmm1, xmm0)?;
        a.punpckhbw(xmm4, xmm2)?;
        a.punpcklwd(xmm5, xmm1)?;
        a.pslldq(xmm5, 3)?;
        a.psrldq(xmm4, 5)?;
        a.movdqu(xmmword_ptr(0x600000), xmm4)?;
        a.movups(xmm6, xmmword_ptr(0x600000))?;
        a.por(xmm6, xmm5)?;
        a.pxor(xmm7, xmm7)?;
        a.movd(edx, xmm6)?;
        a.movq(r8, xmm5)?;
        a.movsd_2(xmm7, xmm6)?;
        a.movss(xmm8, dword_ptr(0x600004))?;
        a.movsd_2(qword_ptr(0x600020), xmm2)?;
        a.movd(xmm9, edx)?;
        a.ret()
    });
    let mut cpu = start_state(&[]);
    for (i, x) in cpu.xmm.iter_mut().enumerate() {
        *x = 0x1111_2222_3333_4444_5555_6666_7777_8888u128.wrapping_mul(i as u128 + 3);
    }
    let c = check_same(&code, &[CODE], &cpu);
    assert_eq!(c.interpreted, 0);
}

#[test]
fn scalar_float_fast_path_and_its_fallbacks() {
    // Ordinary values take the fast path; zero divisors, NaN, denormals, a clear inexact flag
    // and another rounding mode go through the helper, which sets MXCSR flags like the CPU.
    let cases: [(f64, f64, u32); 10] = [
        (1.5, 0.1, 0x1fa0),
        (1.5, 0.1, 0x1f80),
        (1.0, 0.0, 0x1fa0),
        (f64::NAN, 2.0, 0x1fa0),
        (5e-324, 1.0, 0x1fa0),
        (1e308, 1e308, 0x1fa0),
        (2.0, 3.0, 0x3fa0),
        (3.0, 0.5, 0x1f80),
        (1.0, 3.0, 0x1f80),
        (6.0, 4.0, 0x1f80),
    ];
    for &(x, y, mxcsr) in &cases {
        let code = assemble(&|a| {
            a.movq(xmm0, rdi)?;
            a.movq(xmm1, rsi)?;
            a.movapd(xmm2, xmm0)?;
            a.addsd(xmm2, xmm1)?;
            a.movapd(xmm3, xmm0)?;
            a.mulsd(xmm3, xmm1)?;
            a.movapd(xmm4, xmm0)?;
            a.divsd(xmm4, xmm1)?;
            a.sqrtsd(xmm5, xmm1)?;
            a.movapd(xmm6, xmm0)?;
            a.maxsd(xmm6, xmm1)?;
            a.movss(xmm7, xmm0)?;
            a.subss(xmm7, xmm1)?;
            a.ucomisd(xmm0, xmm1)?;
            a.setb(byte_ptr(0x600004))?;
            a.sete(byte_ptr(0x600005))?;
            a.setp(byte_ptr(0x600006))?;
            a.seta(byte_ptr(0x600007))?;
            a.comiss(xmm7, xmm1)?;
            a.setbe(byte_ptr(0x600008))?;
            a.cvtsi2sd(xmm8, esi)?;
            // 64-bit sources: exact (1000) and, for the float bit patterns, mostly inexact.
            a.mov(r10, 1000u64)?;
            a.cvtsi2sd(xmm12, r10)?;
            a.cvtsi2sd(xmm9, rdi)?;
            a.cvtsi2sd(xmm13, rsi)?;
            a.cvttsd2si(r8, xmm0)?;
            a.cvttsd2si(r9d, xmm3)?;
            a.unpcklpd(xmm0, xmm1)?;
            a.movapd(xmm10, xmm0)?;
            a.mulpd(xmm10, xmm0)?;
            a.addpd(xmm10, xmm1)?;
            a.divpd(xmm0, xmm10)?;
            a.unpckhpd(xmm10, xmm0)?;
            a.movhpd(xmm11, qword_ptr(0x600010))?;
            a.movlpd(qword_ptr(0x600018), xmm10)?;
            a.stmxcsr(dword_ptr(0x600000))?;
            a.ret()
        });
        let mut cpu = start_state(&[(7, x.to_bits()), (6, y.to_bits())]);
        cpu.mxcsr = mxcsr;
        check_same(&code, &[CODE], &cpu);
    }
}

#[test]
fn indirect_calls_and_jumps_stay_in_wasm() {
    // A loop calls `add3` and `twice` through registers and memory; `twice` tail-jumps to `add3`
    // through a register; `unlisted` is not a lifted function, so calling it misses the dispatch.
    let mut a = CodeAssembler::new(64).unwrap();
    let mut add3 = a.create_label();
    let mut twice = a.create_label();
    let mut unlisted = a.create_label();
    let mut top = a.create_label();
    a.push(rbx).unwrap();
    a.push(r12).unwrap();
    a.lea(r12, ptr(add3)).unwrap();
    a.lea(rax, ptr(twice)).unwrap();
    a.mov(qword_ptr(0x600000), rax).unwrap();
    a.xor(eax, eax).unwrap();
    a.mov(ebx, 50).unwrap();
    a.set_label(&mut top).unwrap();
    a.mov(edi, eax).unwrap();
    a.call(r12).unwrap();
    a.mov(edi, eax).unwrap();
    a.call(qword_ptr(0x600000)).unwrap();
    a.lea(rcx, ptr(unlisted)).unwrap();
    a.mov(edi, eax).unwrap();
    a.call(rcx).unwrap();
    a.dec(ebx).unwrap();
    a.jnz(top).unwrap();
    a.pop(r12).unwrap();
    a.pop(rbx).unwrap();
    a.ret().unwrap();
    a.set_label(&mut add3).unwrap();
    a.lea(eax, ptr(rdi + 3)).unwrap();
    a.ret().unwrap();
    a.set_label(&mut twice).unwrap();
    a.lea(edi, ptr(rdi + rdi)).unwrap();
    a.lea(rdx, ptr(add3)).unwrap();
    a.jmp(rdx).unwrap();
    a.set_label(&mut unlisted).unwrap();
    a.lea(eax, ptr(rdi - 1)).unwrap();
    a.ret().unwrap();
    let r = a
        .assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .unwrap();
    let code = r.inner.code_buffer.clone();
    let (add3, twice) = (r.label_ip(&add3).unwrap(), r.label_ip(&twice).unwrap());
    let c = check_same(&code, &[CODE, add3, twice], &start_state(&[]));
    // Only `unlisted` (two instructions, 50 calls) runs in the interpreter; every return to the
    // loop after it re-enters lifted code.
    assert_eq!(c.interpreted, 100, "{c:?}");
    assert_eq!(c.lifted_calls, 51, "{c:?}");
}

#[test]
fn movs_and_stos_inline_and_their_fallbacks() {
    // Source bytes at 0x600000, copies and fills around 0x610000.
    let fast = assemble(&|a| {
        a.mov(rax, 0x0706_0504_0302_0100u64)?;
        a.mov(qword_ptr(0x600000), rax)?;
        a.mov(rax, 0x0f0e_0d0c_0b0a_0908u64)?;
        a.mov(qword_ptr(0x600008), rax)?;
        // rep movsb / rep movsq, non-overlapping and overlapping backwards (dst < src).
        a.mov(esi, 0x600000)?;
        a.mov(edi, 0x610000)?;
        a.mov(ecx, 13)?;
        a.rep().movsb()?;
        a.mov(esi, 0x600000)?;
        a.mov(edi, 0x610020)?;
        a.mov(ecx, 2)?;
        a.rep().movsq()?;
        a.mov(esi, 0x610021)?;
        a.mov(edi, 0x610020)?;
        a.mov(ecx, 9)?;
        a.rep().movsb()?;
        // Single elements, a zero count, memset-style fills.
        a.movsb()?;
        a.movsd()?;
        a.xor(ecx, ecx)?;
        a.rep().movsq()?;
        a.mov(eax, 0x4141_4141)?;
        a.stosb()?;
        a.stosw()?;
        a.mov(edi, 0x610100)?;
        a.mov(ecx, 7)?;
        a.rep().stosd()?;
        a.mov(rax, 0x2a2a_2a2a_2a2a_2a2au64)?;
        a.mov(ecx, 5)?;
        a.rep().stosq()?;
        a.ret()
    });
    let c = check_same(&fast, &[CODE], &start_state(&[]));
    assert_eq!((c.interpreted, c.helper_steps), (0, 0), "{c:?}");

    let slow = assemble(&|a| {
        a.mov(rax, 0x0706_0504_0302_0100u64)?;
        a.mov(qword_ptr(0x600000), rax)?;
        // Overlapping forward copy (dst inside src) replicates the pattern; DF set copies
        // backwards; a fill value that is not one repeated byte.
        a.mov(esi, 0x600000)?;
        a.mov(edi, 0x600002)?;
        a.mov(ecx, 12)?;
        a.rep().movsb()?;
        a.std()?;
        a.mov(esi, 0x600007)?;
        a.mov(edi, 0x610007)?;
        a.mov(ecx, 8)?;
        a.rep().movsb()?;
        a.movsb()?;
        a.cld()?;
        a.mov(eax, 0x1234_5678)?;
        a.mov(edi, 0x610100)?;
        a.mov(ecx, 3)?;
        a.rep().stosd()?;
        a.ret()
    });
    let c = check_same(&slow, &[CODE], &start_state(&[]));
    // std, cld and the four string instructions above went to the helper.
    assert_eq!((c.interpreted, c.helper_steps), (0, 6), "{c:?}");
}

#[test]
fn widening_multiply_and_divide() {
    const V: [u64; 9] = [
        0,
        1,
        3,
        0xffff_ffff_ffff_ffff,
        0x7fff_ffff_ffff_ffff,
        0x8000_0000_0000_0000,
        0x0000_0000_ffff_fffe,
        0x8000_0000,
        0x1234_5678_9abc_def1,
    ];
    let code = assemble(&|a| {
        let mut at = 0x600000u64;
        // Flags after a multiply (CF, OF); after a divide they are undefined.
        let mut out = |a: &mut CodeAssembler, flags: bool| -> Result<(), IcedError> {
            a.mov(qword_ptr(at), rax)?;
            a.mov(qword_ptr(at + 8), rdx)?;
            if flags {
                a.setc(byte_ptr(at + 16))?;
                a.seto(byte_ptr(at + 17))?;
            }
            at += 24;
            Ok(())
        };
        for &x in &V {
            for &y in &V {
                a.mov(rcx, y)?;
                a.mov(rax, x)?;
                a.mul(rcx)?;
                out(a, true)?;
                a.mov(rax, x)?;
                a.imul(rcx)?;
                out(a, true)?;
                a.mov(rax, x)?;
                a.mul(ecx)?;
                out(a, true)?;
                a.mov(rax, x)?;
                a.imul(ecx)?;
                out(a, true)?;
                if y != 0 {
                    // 64-bit dividends (rdx zero or sign), and a 128-bit one for the helper.
                    a.mov(rax, x)?;
                    a.xor(edx, edx)?;
                    a.div(rcx)?;
                    out(a, false)?;
                    a.mov(rax, x)?;
                    a.mov(edx, 1)?;
                    if y > 1 {
                        a.div(rcx)?;
                        out(a, false)?;
                    }
                    if !(x == 1 << 63 && y == u64::MAX) {
                        a.mov(rax, x)?;
                        a.cqo()?;
                        a.idiv(rcx)?;
                        out(a, false)?;
                    }
                    if y as u32 != 0 {
                        a.mov(rax, x & 0xffff)?;
                        a.xor(edx, edx)?;
                        a.div(ecx)?;
                        out(a, false)?;
                        a.mov(eax, (x as u32 & 0x7fff) as i32)?;
                        a.cdq()?;
                        a.idiv(ecx)?;
                        out(a, false)?;
                    }
                }
            }
        }
        a.ret()
    });
    let c = check_same(&code, &[CODE], &start_state(&[]));
    // Only the 128-bit dividends (y > 1: seven divisors per dividend) need the helper.
    assert_eq!(c.helper_steps, 9 * 7, "{c:?}");
}

#[test]
fn low_bases_leave_to_the_interpreter() {
    // Loads and a store through rdi with small displacements: checked once per block on rdi
    // itself, so a base just above 64 KiB runs in the interpreter (which does the right thing),
    // and an ordinary pointer stays in Wasm.
    let code = assemble(&|a| {
        a.mov(rax, qword_ptr(rdi + 0x900))?;
        a.add(rax, qword_ptr(rdi + 0x908))?;
        a.mov(qword_ptr(rdi - 8), rax)?;
        a.lea(rdi, ptr(rdi + 0x20))?;
        a.mov(rcx, qword_ptr(rdi + 0x8f0))?;
        a.ret()
    });
    let high = check_same(&code, &[CODE], &start_state(&[(7, 0x60_0000)]));
    assert_eq!(high.interpreted, 0, "{high:?}");
    let low = check_same(&code, &[CODE], &start_state(&[(7, 0x1_0800)]));
    assert!(low.interpreted > 0, "{low:?}");
}
