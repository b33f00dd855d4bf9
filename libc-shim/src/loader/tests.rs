//! Loader tests with hand-built ELF files.

use super::*;
use crate::mem::perm;
use crate::mem::testing::host_mem;
use crate::mm::FixedWindow;
use alloc::boxed::Box;
use alloc::vec;

/// An ELF64 x86-64 file of type `kind` with a text segment (RX, 0x40 bytes of code at
/// `vaddr + 0x1000`) and a data segment (RW, "DATA" then 0x2000 bytes of bss), and optionally a
/// `PT_INTERP`.
pub(crate) fn elf(kind: u16, vaddr: u64, interp: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 0x3000];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16..18].copy_from_slice(&kind.to_le_bytes());
    b[18..20].copy_from_slice(&62u16.to_le_bytes());
    b[24..32].copy_from_slice(&(vaddr + 0x1000).to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    let mut ph = vec![
        (PT_LOAD, 5u32, 0u64, vaddr, 0x1040u64, 0x1040u64),
        (PT_LOAD, 6, 0x2000, vaddr + 0x2000, 4, 0x2004),
    ];
    if let Some(i) = interp {
        b[0x800..0x800 + i.len()].copy_from_slice(i);
        ph.push((
            PT_INTERP,
            4,
            0x800,
            vaddr + 0x800,
            i.len() as u64 + 1,
            i.len() as u64 + 1,
        ));
    }
    b[56..58].copy_from_slice(&(ph.len() as u16).to_le_bytes());
    for (i, (t, f, off, va, fs, ms)) in ph.into_iter().enumerate() {
        let at = 64 + 56 * i;
        b[at..at + 4].copy_from_slice(&t.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&f.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
        b[at + 16..at + 24].copy_from_slice(&va.to_le_bytes());
        b[at + 32..at + 40].copy_from_slice(&fs.to_le_bytes());
        b[at + 40..at + 48].copy_from_slice(&ms.to_le_bytes());
    }
    b[0x1000..0x1040].fill(0x90);
    b[0x2000..0x2004].copy_from_slice(b"DATA");
    b
}

fn mm() -> (crate::mem::testing::HostMem, Mm) {
    (host_mem(64 << 20), Mm::new(Box::new(FixedWindow), 64 << 20))
}

#[test]
fn static_executable_loads_at_its_link_address() {
    let (mut h, mut m) = mm();
    let file = elf(ET_EXEC, 0x40_0000, None);
    let (exe, interp, entry) =
        load_program(&mut m, &mut h.mem, &file, b"/bin/x", &mut |_| None).unwrap();
    assert_eq!(
        (entry, interp, exe.phdr, exe.phnum),
        (0x40_1000, None, 0x40_0040, 2)
    );
    let mem = &h.mem;
    assert_eq!(mem.slice(0x40_1000, 4, perm::EXEC).unwrap(), [0x90; 4]);
    assert!(
        mem.check(0x40_1000, 1, perm::WRITE).is_err(),
        "text is read-only"
    );
    assert_eq!(mem.slice(0x40_2000, 5, perm::WRITE).unwrap(), b"DATA\0");
    assert_eq!(mem.read_u8(0x40_4003).unwrap(), 0, "bss is zero");
    assert_eq!(m.brk, 0x40_5000);
    assert!(
        crate::fs::synth::ProcSource::maps(&m)
            .windows(6)
            .any(|w| w == b"/bin/x")
    );
}

#[test]
fn pie_and_interpreter_are_placed_by_the_runtime() {
    let (mut h, mut m) = mm();
    let file = elf(ET_DYN, 0, Some(b"/lib/ld.so"));
    let ld = elf(ET_DYN, 0, None);
    let mut asked = Vec::new();
    let (exe, interp, entry) = load_program(&mut m, &mut h.mem, &file, b"/bin/pie", &mut |p| {
        asked.push(p.to_vec());
        Some((ld.clone(), b"/lib/ld.so".to_vec()))
    })
    .unwrap();
    assert_eq!(asked, [b"/lib/ld.so".to_vec()]);
    assert_eq!(exe.bias, EXE_BASE);
    let interp = interp.unwrap();
    assert!(interp.bias >= m.mmap_base);
    assert_eq!(entry, interp.bias + 0x1000);
    assert_eq!(
        h.mem.slice(interp.bias + 0x2000, 4, perm::READ).unwrap(),
        b"DATA"
    );
    let missing = load_program(&mut m, &mut h.mem, &file, b"/bin/pie", &mut |_| None);
    assert_eq!(
        missing.unwrap_err(),
        LoadError::Interp(b"/lib/ld.so".to_vec())
    );
}

#[test]
fn malformed_files_are_errors() {
    assert_eq!(Elf::parse(b"#!/bin/sh\n").unwrap_err(), LoadError::NotElf);
    let mut arm = elf(ET_EXEC, 0x40_0000, None);
    arm[18] = 183;
    assert_eq!(Elf::parse(&arm).unwrap_err(), LoadError::WrongArch);
    let good = elf(ET_EXEC, 0x40_0000, None);
    for cut in [20, 60, 100, 0x1800] {
        assert!(Elf::parse(&good[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn initial_stack_follows_the_abi() {
    let (mut h, mut m) = mm();
    m.mmap_base = 0x100_0000;
    let top = m.map_stack(&mut h.mem, 1 << 20).unwrap();
    let exe = Loaded {
        bias: 0,
        entry: 0x40_1000,
        phdr: 0x40_0040,
        phnum: 2,
        end: 0x40_5000,
    };
    let argv = [b"sh".to_vec(), b"-c".to_vec()];
    let envp = [b"A=1".to_vec()];
    let s = StackSetup {
        argv: &argv,
        envp: &envp,
        execfn: b"/bin/sh",
        exe,
        interp: None,
        uid: 0,
        gid: 0,
        random: [7; 16],
    };
    let sp = build_stack(&mut m, &mut h.mem, top, &s).unwrap();
    assert_eq!(sp % 16, 0);
    let mem = &h.mem;
    let cstr = |at: u64| {
        let mut v = Vec::new();
        while mem.read_u8(at + v.len() as u64).unwrap() != 0 {
            v.push(mem.read_u8(at + v.len() as u64).unwrap());
        }
        v
    };
    assert_eq!(mem.read_u64(sp).unwrap(), 2);
    assert_eq!(cstr(mem.read_u64(sp + 8).unwrap()), b"sh");
    assert_eq!(cstr(mem.read_u64(sp + 16).unwrap()), b"-c");
    assert_eq!(mem.read_u64(sp + 24).unwrap(), 0);
    assert_eq!(cstr(mem.read_u64(sp + 32).unwrap()), b"A=1");
    assert_eq!(mem.read_u64(sp + 40).unwrap(), 0);
    let mut aux = sp + 48;
    let mut seen = Vec::new();
    loop {
        let (k, v) = (mem.read_u64(aux).unwrap(), mem.read_u64(aux + 8).unwrap());
        if k == AT_NULL {
            break;
        }
        seen.push((k, v));
        aux += 16;
    }
    let get = |k| seen.iter().find(|(kk, _)| *kk == k).unwrap().1;
    assert_eq!(get(AT_ENTRY), 0x40_1000);
    assert_eq!(get(AT_PAGESZ), 4096);
    assert_eq!(mem.slice(get(AT_RANDOM), 16, perm::READ).unwrap(), [7; 16]);
    assert_eq!(cstr(get(AT_PLATFORM)), b"x86_64");
    assert_eq!(cstr(get(AT_EXECFN)), b"/bin/sh");
}
