//! The dispatcher on the host, with a scripted stand-in for the call through table 0.

use super::map::{ElfMap, Entry, Map, encode};
use super::*;
use crate::mem::testing::{HostMem, host_mem};
use alloc::vec;
use alloc::vec::Vec;

const CODE: u64 = 0x10000;

/// What the stand-in does when "lifted code" is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    /// Step one instruction through the helper, count it as lifted, continue.
    StepOnce,
    /// Stop with a fault at `rip`.
    Fault,
    /// Return without moving (a lifted function that loops through the dispatcher).
    Stay,
}

#[derive(Debug)]
struct Fake {
    script: Script,
    calls: Vec<Entry>,
}

impl CallLifted for Fake {
    fn call(
        &mut self,
        entry: Entry,
        cpu: &mut Cpu,
        interp: &mut Interp,
        mem: &mut GuestMem,
    ) -> Result<(), Stop> {
        self.calls.push(entry);
        match self.script {
            Script::StepOnce => {
                step(interp, cpu, mem)?;
                cpu.lifted += 1;
                Ok(())
            }
            Script::Fault => Err(Stop::Fault {
                signal: 11,
                addr: cpu.rip,
                write: false,
            }),
            Script::Stay => Ok(()),
        }
    }
}

/// `nop; nop; nop; syscall` at `CODE`, executable.
fn memory() -> HostMem {
    let mut h = host_mem(0x20000);
    h.mem.protect(CODE, 0x1000, crate::mem::perm::RWX).unwrap();
    h.mem
        .slice_mut(CODE, 5)
        .unwrap()
        .copy_from_slice(&[0x90, 0x90, 0x90, 0x0f, 0x05]);
    h
}

fn map_bytes() -> Vec<u8> {
    let entry = |addr, table, block| Entry { addr, table, block };
    encode(&[
        ElfMap {
            ino: 5,
            bias: 0,
            entries: vec![entry(CODE + 1, 7, 2)],
        },
        ElfMap {
            ino: 6,
            bias: 0,
            entries: vec![entry(CODE, 8, 0)],
        },
    ])
    .unwrap()
}

fn exe(ino: Option<u32>, bias: u64) -> LoadedFile {
    LoadedFile {
        ino,
        bias,
        code: vec![(CODE, CODE + 0x1000)],
    }
}

fn executor(bytes: &[u8], script: Script) -> LiftedExecutor<'_, Fake> {
    let fake = Fake {
        script,
        calls: Vec::new(),
    };
    LiftedExecutor::new(Map::parse(bytes).unwrap(), fake, true)
}

#[test]
fn only_the_exact_packed_file_at_its_bias_activates() {
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::StepOnce);
    for (file, active) in [
        (exe(Some(5), 0), 1),
        (exe(Some(5), 0x40_0000), 0),
        (exe(Some(7), 0), 0),
        (exe(None, 0), 0),
        (exe(Some(6), 0), 1),
    ] {
        x.program_loaded(&file);
        assert_eq!(x.active(), active, "{file:?}");
    }
    assert_eq!(x.lookup(CODE).map(|e| e.table), Some(8));
    assert_eq!(x.lookup(CODE + 1), None);
}

#[test]
fn dispatches_between_lifted_code_and_the_interpreter() {
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::StepOnce);
    x.program_loaded(&exe(Some(5), 0));
    let mut h = memory();
    let mut cpu = Cpu {
        rip: CODE,
        ..Cpu::default()
    };
    // nop (interpreted, a miss) -> entry at CODE+1 (lifted, steps its nop) -> CODE+2 (a miss)
    // -> syscall.
    assert_eq!(x.run(&mut cpu, &mut h.mem, 100), Stop::Syscall);
    assert_eq!(cpu.rip, CODE + 5);
    assert_eq!(
        x.caller.calls,
        [Entry {
            addr: CODE + 1,
            table: 7,
            block: 2
        }]
    );
    assert_eq!((x.calls, x.lifted, x.interp.executed()), (1, 1, 4));
    assert_eq!(x.misses.top(10), [(CODE, 1), (CODE + 2, 1)]);
    let line = stats::line(x.lifted, x.interp.executed() - x.lifted, x.calls, &x.misses);
    assert!(
        line.contains("top missed: 0x10000 x1, 0x10002 x1"),
        "{line}"
    );
}

#[test]
fn stops_in_lifted_code_reach_the_main_loop() {
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::Fault);
    x.program_loaded(&exe(Some(6), 0));
    let mut h = memory();
    let mut cpu = Cpu {
        rip: CODE,
        ..Cpu::default()
    };
    let stop = x.run(&mut cpu, &mut h.mem, 100);
    assert!(matches!(stop, Stop::Fault { addr: CODE, .. }), "{stop:?}");
    assert_eq!(x.interp.executed(), 0);
}

#[test]
fn a_lifted_call_without_progress_leaves_the_instruction_to_the_interpreter() {
    // Lifted code returns at the address it was entered at (a fault, `ud2`, ...): calling it
    // again would loop forever, so the interpreter runs that instruction (here a syscall).
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::Stay);
    x.program_loaded(&exe(Some(6), 0));
    let mut h = memory();
    let mut cpu = Cpu {
        rip: CODE,
        ..Cpu::default()
    };
    assert_eq!(x.run(&mut cpu, &mut h.mem, 10), Stop::Syscall);
    assert_eq!(x.calls, 1);
}

#[test]
fn changed_code_deactivates_and_no_map_means_the_interpreter() {
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::StepOnce);
    x.program_loaded(&exe(Some(6), 0));
    x.invalidate(CODE + 0x1000, 0x1000);
    assert_eq!(x.active(), 1, "a neighbouring page is not its code");
    x.invalidate(CODE + 0xff0, 0x20);
    assert_eq!(x.active(), 0);
    let mut h = memory();
    let mut cpu = Cpu {
        rip: CODE,
        ..Cpu::default()
    };
    assert_eq!(x.run(&mut cpu, &mut h.mem, 100), Stop::Syscall);
    assert!(x.caller.calls.is_empty());
    assert_eq!(x.interp.executed(), 4);

    let mut plain = LiftedExecutor::new(Map::EMPTY, x.caller, false);
    plain.program_loaded(&exe(Some(6), 0));
    assert_eq!(plain.active(), 0);
}

/// `mov eax, 60; mov edi, 7; syscall` (exit 7) at 0x401000 of a static ELF.
fn exit7_elf() -> Vec<u8> {
    let mut b = vec![0u8; 0x1000];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4..7].copy_from_slice(&[2, 1, 1]);
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&62u16.to_le_bytes());
    b[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let code = [0xb8, 60, 0, 0, 0, 0xbf, 7, 0, 0, 0, 0x0f, 0x05];
    let size = 0x1000 + code.len() as u64;
    b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b[68..72].copy_from_slice(&5u32.to_le_bytes()); // R X
    b[80..88].copy_from_slice(&0x40_0000u64.to_le_bytes());
    b[96..104].copy_from_slice(&size.to_le_bytes());
    b[104..112].copy_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&code);
    b
}

/// Boots `/bin/prog` (the exit-7 program) through `start::main` with a map for its inode at
/// `bias`; returns (status, lifted calls).
fn boot_with_map(bias: u64) -> (i32, usize) {
    use crate::mm::FixedWindow;
    use crate::platform::testing::TestPlatform;
    use crate::start::{Space, main};
    use alloc::boxed::Box;
    use vfs_pack::tree::{Inode, Meta, Node, Tree};
    let mut t = Tree::new();
    let (dir, name) = t
        .resolve_parent(b"/bin/prog", Some(Meta::root(0o755)), false)
        .unwrap();
    let id = t.add(Inode {
        meta: Meta::root(0o755),
        node: Node::File(exit7_elf()),
    });
    t.link(dir, &name, id);
    let mut bytes = Vec::new();
    vfs_pack::write(&t, &mut bytes).unwrap();
    let image: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let parsed = vfs_pack::Image::parse(image).unwrap();
    let ino = parsed
        .resolve(&parsed.root(), b"/bin/prog", true)
        .unwrap()
        .ino();
    let map = encode(&[ElfMap {
        ino,
        bias,
        entries: vec![Entry {
            addr: 0x40_1000,
            table: 9,
            block: 0,
        }],
    }])
    .unwrap();
    let mut cfg = Vec::new();
    crate::layout::push_config_record(&mut cfg, crate::layout::ConfigTag::Entrypoint, b"/bin/prog");
    let mut p = TestPlatform::default();
    let mut h = host_mem(64 << 20);
    let mut x = executor(&map, Script::StepOnce);
    let space = Space {
        grow: Box::new(FixedWindow),
        limit: 64 << 20,
        reserved: 0,
    };
    let status = main(&mut p, image, &cfg, &mut h.mem, space, &mut x);
    (status, x.caller.calls.len())
}

#[test]
fn the_loaded_program_activates_its_map() {
    assert_eq!(boot_with_map(0), (7, 1));
    assert_eq!(boot_with_map(0x1000), (7, 0), "another bias");
}
