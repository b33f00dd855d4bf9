//! Jump-table recognition on hand-assembled code in a minimal two-segment ELF: bounds taken and
//! not taken, a table loaded into a register, and the cases that must stay unresolved (no bound,
//! index changed after the bound).

use iced_x86::BlockEncoderOptions;
use iced_x86::code_asm::*;

use super::*;

const CODE: u64 = 0x40_1000;
const DATA: u64 = 0x40_2000;
/// Table addresses in the data segment.
const TABLE_A: u64 = DATA;
const TABLE_B: u64 = DATA + 0x100;
const TABLE_C: u64 = DATA + 0x200;

/// A minimal ELF64 x86-64 executable: `code` (R+X) at [`CODE`], `data` (R) at [`DATA`].
fn elf(code: &[u8], data: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 0x3000];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // 64-bit
    f[5] = 1; // little-endian
    f[6] = 1; // version
    let put16 =
        |f: &mut Vec<u8>, at: usize, v: u16| f[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |f: &mut Vec<u8>, at: usize, v: u64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put16(&mut f, 16, 2); // ET_EXEC
    put16(&mut f, 18, 62); // EM_X86_64
    put32(&mut f, 20, 1);
    put64(&mut f, 24, CODE); // e_entry
    put64(&mut f, 32, 64); // e_phoff
    put16(&mut f, 52, 64); // e_ehsize
    put16(&mut f, 54, 56); // e_phentsize
    put16(&mut f, 56, 2); // e_phnum
    put16(&mut f, 58, 64); // e_shentsize
    for (i, (offset, vaddr, len, flags)) in [
        (0x1000u64, CODE, code.len(), 5u32),
        (0x2000, DATA, data.len(), 4),
    ]
    .into_iter()
    .enumerate()
    {
        let ph = 64 + i * 56;
        put32(&mut f, ph, 1); // PT_LOAD
        put32(&mut f, ph + 4, flags);
        put64(&mut f, ph + 8, offset);
        put64(&mut f, ph + 16, vaddr);
        put64(&mut f, ph + 24, vaddr);
        put64(&mut f, ph + 32, len as u64);
        put64(&mut f, ph + 40, len as u64);
        put64(&mut f, ph + 48, 0x1000);
    }
    f[0x1000..0x1000 + code.len()].copy_from_slice(code);
    f[0x2000..0x2000 + data.len()].copy_from_slice(data);
    f
}

/// The assembled test program.
struct Program {
    elf: Vec<u8>,
    /// The four indirect `jmp`s.
    jmps: [u64; 4],
    /// The cases of tables A and B.
    a_targets: Vec<u64>,
    b_targets: Vec<u64>,
}

/// Four `switch` shapes.
fn program() -> Result<Program, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut funcs = [
        a.create_label(),
        a.create_label(),
        a.create_label(),
        a.create_label(),
    ];
    let mut jmps = [
        a.create_label(),
        a.create_label(),
        a.create_label(),
        a.create_label(),
    ];
    let mut cases_a: Vec<CodeLabel> = (0..4).map(|_| a.create_label()).collect();
    let mut cases_b: Vec<CodeLabel> = (0..5).map(|_| a.create_label()).collect();
    let mut done = a.create_label();
    let mut dispatch = a.create_label();
    // Entry: call the four shapes.
    for f in &funcs {
        a.call(*f)?;
    }
    a.ret()?;
    // A: `cmp edi, 3; ja default; mov eax, edi; jmp [rax*8 + A]` (4 entries).
    a.set_label(&mut funcs[0])?;
    a.cmp(edi, 3)?;
    a.ja(done)?;
    a.mov(eax, edi)?;
    a.set_label(&mut jmps[0])?;
    a.jmp(qword_ptr(rax * 8 + TABLE_A as i32))?;
    for (i, case) in cases_a.iter_mut().enumerate() {
        a.set_label(case)?;
        a.mov(eax, i as u32)?;
        a.ret()?;
    }
    a.set_label(&mut done)?;
    a.xor(eax, eax)?;
    a.ret()?;
    // B: `cmp edi, 4; jbe dispatch; ...; dispatch: mov rax, [rdi*8 + B]; jmp rax` (5 entries).
    a.set_label(&mut funcs[1])?;
    a.cmp(edi, 4)?;
    a.jbe(dispatch)?;
    a.xor(eax, eax)?;
    a.ret()?;
    a.set_label(&mut dispatch)?;
    a.mov(rax, qword_ptr(rdi * 8 + TABLE_B as i32))?;
    a.set_label(&mut jmps[1])?;
    a.jmp(rax)?;
    for (i, case) in cases_b.iter_mut().enumerate() {
        a.set_label(case)?;
        a.mov(eax, 10 + i as u32)?;
        a.ret()?;
    }
    // C: no bound at all.
    a.set_label(&mut funcs[2])?;
    a.mov(eax, edi)?;
    a.set_label(&mut jmps[2])?;
    a.jmp(qword_ptr(rax * 8 + TABLE_C as i32))?;
    // D: the index changes after the bound check.
    a.set_label(&mut funcs[3])?;
    a.cmp(edi, 3)?;
    a.ja(done)?;
    a.add(edi, 1)?;
    a.set_label(&mut jmps[3])?;
    a.jmp(qword_ptr(rdi * 8 + TABLE_A as i32))?;

    let result = a.assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let ip = |l: &CodeLabel| result.label_ip(l);
    let a_targets = cases_a.iter().map(ip).collect::<Result<Vec<_>, _>>()?;
    let b_targets = cases_b.iter().map(ip).collect::<Result<Vec<_>, _>>()?;
    let mut data = vec![0u8; 0x300];
    for (i, t) in a_targets.iter().enumerate() {
        data[i * 8..i * 8 + 8].copy_from_slice(&t.to_le_bytes());
    }
    for (i, t) in b_targets.iter().enumerate() {
        data[0x100 + i * 8..0x108 + i * 8].copy_from_slice(&t.to_le_bytes());
    }
    // Table C holds pointers too, but nothing bounds its index.
    data[0x200..0x208].copy_from_slice(&a_targets[0].to_le_bytes());
    let jmp_ips = [ip(&jmps[0])?, ip(&jmps[1])?, ip(&jmps[2])?, ip(&jmps[3])?];
    Ok(Program {
        elf: elf(&result.inner.code_buffer, &data),
        jmps: jmp_ips,
        a_targets,
        b_targets,
    })
}

#[test]
fn jump_table_shapes() {
    let Program {
        elf: bytes,
        jmps,
        a_targets,
        b_targets,
    } = program().unwrap();
    let code = Code::new(&bytes, 0).unwrap();
    let found = discover(&code, &bytes).unwrap();
    assert_eq!(found.jump_tables.get(&jmps[0]), Some(&a_targets));
    assert_eq!(found.jump_tables.get(&jmps[1]), Some(&b_targets));
    assert!(!found.jump_tables.contains_key(&jmps[2]));
    assert!(!found.jump_tables.contains_key(&jmps[3]));
    assert!(found.unresolved_jumps.contains(&jmps[2]));
    assert!(found.unresolved_jumps.contains(&jmps[3]));
    for t in a_targets.iter().chain(&b_targets) {
        assert!(found.branch_targets.contains(t));
    }
    assert_eq!(found.functions[&CODE].sources, vec![Source::Entry]);
    let calls = found
        .functions
        .values()
        .filter(|f| f.sources.contains(&Source::CallTarget))
        .count();
    assert_eq!(calls, 4);
}

/// A `switch` whose loop head is first reached from a path that lacks the table's base (here
/// `g` jumps into it before `f`'s preheader is walked): the later path that merges into the
/// decoded head still resolves the table.
#[test]
fn a_table_is_resolved_by_a_later_path_that_merges_into_it() -> Result<(), IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut g = a.create_label();
    let mut f = a.create_label();
    let mut head = a.create_label();
    let mut out = a.create_label();
    let mut jmp = a.create_label();
    let mut cases: Vec<CodeLabel> = (0..4).map(|_| a.create_label()).collect();
    a.call(g)?;
    a.call(f)?;
    a.ret()?;
    a.set_label(&mut g)?;
    a.mov(eax, 1)?;
    a.jmp(head)?;
    a.set_label(&mut f)?;
    a.mov(rsi, TABLE_A)?;
    a.xor(eax, eax)?;
    a.set_label(&mut head)?;
    a.cmp(eax, 3)?;
    a.ja(out)?;
    a.set_label(&mut jmp)?;
    a.jmp(qword_ptr(rsi + rax * 8))?;
    for (i, case) in cases.iter_mut().enumerate() {
        a.set_label(case)?;
        a.mov(eax, i as u32)?;
        a.ret()?;
    }
    a.set_label(&mut out)?;
    a.ret()?;
    let result = a.assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let targets = cases
        .iter()
        .map(|l| result.label_ip(l))
        .collect::<Result<Vec<_>, _>>()?;
    let mut data = vec![0u8; 0x100];
    for (i, t) in targets.iter().enumerate() {
        data[i * 8..i * 8 + 8].copy_from_slice(&t.to_le_bytes());
    }
    let bytes = elf(&result.inner.code_buffer, &data);
    let code = Code::new(&bytes, 0).unwrap();
    let found = discover(&code, &bytes).unwrap();
    let at = result.label_ip(&jmp)?;
    assert_eq!(found.jump_tables.get(&at), Some(&targets), "{found:?}");
    assert!(!found.unresolved_jumps.contains(&at));
    Ok(())
}
