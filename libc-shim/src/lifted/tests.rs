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
    let line = stats::line(x.lifted, x.interp.executed() - x.lifted, &x.misses);
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
fn the_budget_counts_lifted_calls() {
    let bytes = map_bytes();
    let mut x = executor(&bytes, Script::Stay);
    x.program_loaded(&exe(Some(6), 0));
    let mut h = memory();
    let mut cpu = Cpu {
        rip: CODE,
        ..Cpu::default()
    };
    assert_eq!(x.run(&mut cpu, &mut h.mem, 10), Stop::BudgetExhausted);
    assert_eq!(x.calls, 10);
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
