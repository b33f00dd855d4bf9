//! Test harness: runs guest code lifted (in wasmtime, with the runtime's helpers played by the
//! host-compiled interpreter) and interpreted, from the same state, so the two can be compared.
//!
//! Memory: one Wasm memory; the `Cpu` at [`CPU_ADDR`], guest address `g` at `GUEST_BASE + g`.
//! A lifted run is a small dispatcher like the runtime's: call the lifted entry for `rip` when
//! there is one, else interpret one instruction, until `rip` reaches [`SENTINEL`].

use iced_x86::code_asm::{CodeAssembler, eax, ecx};
use libc_shim::cpu::Cpu;
use libc_shim::interp::{Exit, Interp};
use libc_shim::mem::{GuestMem, perm};
use std::collections::{BTreeMap, BTreeSet};
use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, FunctionSection, ImportSection,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};
use wasmtime::{Caller, Engine, Instance, Linker, Memory, Store};

use super::{CodeBytes, Plan, translate};
use crate::link::{EXIT_CONTINUE, Link, MapEntry};

pub const CPU_ADDR: u32 = 0x1000;
pub const GUEST_BASE: u32 = 0x1_0000;
/// Guest code is assembled here.
pub const CODE: u64 = 0x40_1000;
/// Top of the guest stack.
pub const STACK_TOP: u64 = 0x70_0000;
/// The return address the test code finally returns to.
pub const SENTINEL: u64 = 0x7f_0000;
const PAGES: u64 = 128;
const GUEST_LEN: u64 = PAGES * 65536 - GUEST_BASE as u64;

pub struct Bytes(pub u64, pub Vec<u8>);

impl CodeBytes for Bytes {
    fn bytes_at(&self, addr: u64) -> Option<&[u8]> {
        let off = addr.checked_sub(self.0)? as usize;
        self.1.get(off..)
    }
}

pub fn assemble(f: &dyn Fn(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE).unwrap()
}

/// `eax = 100 + 99 + ... + 1` by a `dec; jnz` loop: the smallest flags-fused loop.
pub fn counting_loop() -> Vec<u8> {
    assemble(&|a| {
        let mut top = a.create_label();
        a.xor(eax, eax)?;
        a.mov(ecx, 100)?;
        a.set_label(&mut top)?;
        a.add(eax, ecx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.ret()
    })
}

pub fn link() -> Link {
    Link {
        first_func: 2,
        sig_type: 2,
        step_func: 0,
        rflags_func: 1,
        table_base: 0,
        guest_base: GUEST_BASE,
    }
}

/// A module holding the lifted functions of `code` (functions at `entries`), exported as `f<i>`.
pub fn module(
    code: &[u8],
    functions: &[u64],
    tables: BTreeMap<u64, Vec<u64>>,
) -> (Vec<u8>, Vec<MapEntry>) {
    let bytes = Bytes(CODE, code.to_vec());
    let plan = Plan {
        code: &bytes,
        functions: functions.iter().copied().collect::<BTreeSet<_>>(),
        jump_tables: tables,
    };
    let (bodies, entries, _) = translate(&plan, &link(), 0);
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I64]);
    types
        .ty()
        .function(crate::link::SIG_PARAMS, crate::link::SIG_RESULTS);
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import("env", "step", EntityType::Function(0));
    imports.import("env", "rflags", EntityType::Function(1));
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    for _ in &bodies {
        funcs.function(2);
    }
    m.section(&funcs);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: PAGES,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    m.section(&mems);
    let mut exports = ExportSection::new();
    exports.export("mem", ExportKind::Memory, 0);
    for i in 0..bodies.len() {
        exports.export(&format!("f{i}"), ExportKind::Func, 2 + i as u32);
    }
    m.section(&exports);
    let mut codes = CodeSection::new();
    for b in &bodies {
        codes.raw(b);
    }
    m.section(&codes);
    (m.finish(), entries)
}

fn guest(mem: &mut [u8]) -> GuestMem {
    // SAFETY: the window lies inside the Wasm memory's bytes, which outlive this GuestMem (it is
    // used within the borrow of `mem`), and nothing else touches them meanwhile.
    let mut g = unsafe { GuestMem::new(mem.as_mut_ptr().add(GUEST_BASE as usize), GUEST_LEN) };
    g.protect(0x1000, GUEST_LEN - 0x1000, perm::RWX).unwrap();
    g
}

fn read_cpu(mem: &[u8]) -> Cpu {
    // SAFETY: `Cpu` is plain old data (`#[repr(C)]` integers) and the bytes are in bounds.
    unsafe { std::ptr::read_unaligned(mem.as_ptr().add(CPU_ADDR as usize) as *const Cpu) }
}

fn write_cpu(mem: &mut [u8], cpu: &Cpu) {
    // SAFETY: as for `read_cpu`.
    unsafe { std::ptr::write_unaligned(mem.as_mut_ptr().add(CPU_ADDR as usize) as *mut Cpu, *cpu) }
}

/// Interprets one instruction of the state in memory; 1 if it stopped.
fn step(mem: &mut [u8]) -> (i32, Option<Exit>) {
    let mut cpu = read_cpu(mem);
    let exit = {
        let mut g = guest(mem);
        Interp::new().run(&mut cpu, &mut g, 1)
    };
    write_cpu(mem, &cpu);
    match exit {
        Exit::BudgetExhausted => (0, None),
        e => (1, Some(e)),
    }
}

/// The initial state: `rsp` below [`STACK_TOP`] with [`SENTINEL`] pushed, `rip` = `CODE`.
pub fn start_state(regs: &[(usize, u64)]) -> Cpu {
    let mut cpu = Cpu::default();
    for &(r, v) in regs {
        cpu.gpr[r] = v;
    }
    cpu.gpr[4] = STACK_TOP - 8;
    cpu.rip = CODE;
    cpu
}

fn setup(mem: &mut [u8], code: &[u8], cpu: &Cpu) {
    let g = GUEST_BASE as usize;
    mem[g + CODE as usize..g + CODE as usize + code.len()].copy_from_slice(code);
    let sp = g + (STACK_TOP - 8) as usize;
    mem[sp..sp + 8].copy_from_slice(&SENTINEL.to_le_bytes());
    write_cpu(mem, cpu);
}

/// Runs interpreted only; returns the final state and the final bytes of guest memory.
pub fn run_interp(code: &[u8], cpu: &Cpu) -> (Cpu, Vec<u8>) {
    let mut mem = vec![0u8; (PAGES * 65536) as usize];
    setup(&mut mem, code, cpu);
    let mut cpu = *cpu;
    let mut n = 0;
    while cpu.rip != SENTINEL {
        let mut g = guest(&mut mem);
        match Interp::new().run(&mut cpu, &mut g, 1) {
            Exit::BudgetExhausted => {}
            e => panic!("interpreter stopped: {e:?} at {:#x}", cpu.rip),
        }
        n += 1;
        assert!(n < 50_000_000, "runaway");
    }
    (cpu, mem)
}

/// Statistics of a lifted run.
#[derive(Debug, Default)]
pub struct Counts {
    pub lifted_calls: u64,
    pub interpreted: u64,
    /// Instructions lifted code ran through the single-instruction helper.
    pub helper_steps: u64,
}

/// Runs lifted (interpreting what has no entry); the final state, memory and counts.
pub fn run_lifted(
    wasm: &[u8],
    entries: &[MapEntry],
    code: &[u8],
    cpu: &Cpu,
) -> (Cpu, Vec<u8>, Counts) {
    let engine = Engine::default();
    let module = wasmtime::Module::new(&engine, wasm).expect("lifted module compiles");
    // The store's data counts helper steps.
    let mut linker: Linker<u64> = Linker::new(&engine);
    let mem_of =
        |c: &mut Caller<'_, u64>| -> Memory { c.get_export("mem").unwrap().into_memory().unwrap() };
    linker
        .func_wrap(
            "env",
            "step",
            move |mut c: Caller<'_, u64>, _cpu: i32| -> i32 {
                *c.data_mut() += 1;
                let m = mem_of(&mut c);
                step(m.data_mut(&mut c)).0
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "env",
            "rflags",
            move |mut c: Caller<'_, u64>, _cpu: i32| -> i64 {
                let m = mem_of(&mut c);
                libc_shim::interp::rflags(&read_cpu(m.data(&c))) as i64
            },
        )
        .unwrap();
    let mut store = Store::new(&engine, 0u64);
    let inst: Instance = linker.instantiate(&mut store, &module).unwrap();
    let mem = inst.get_memory(&mut store, "mem").unwrap();
    setup(mem.data_mut(&mut store), code, cpu);
    let map: BTreeMap<u64, MapEntry> = entries.iter().map(|e| (e.addr, *e)).collect();
    let mut counts = Counts::default();
    loop {
        let rip = read_cpu(mem.data(&store)).rip;
        if rip == SENTINEL {
            break;
        }
        if let Some(e) = map.get(&rip) {
            let f = inst
                .get_typed_func::<(i32, i32, i32), i32>(&mut store, &format!("f{}", e.func))
                .unwrap();
            counts.lifted_calls += 1;
            let retired = read_cpu(mem.data(&store)).lifted;
            let r = f
                .call(&mut store, (CPU_ADDR as i32, e.block as i32, 0))
                .expect("lifted code does not trap");
            if r != EXIT_CONTINUE {
                // A stop: the tests' code has no syscalls, so this is a fault.
                panic!(
                    "lifted code stopped at {:#x}",
                    read_cpu(mem.data(&store)).rip
                );
            }
            // No progress (lifted code left at its entry for the interpreter, having retired
            // nothing): as the runtime does, interpret that instruction.
            let after = read_cpu(mem.data(&store));
            if after.rip == rip && after.lifted == retired {
                counts.interpreted += 1;
                let (r, e) = step(mem.data_mut(&mut store));
                assert_eq!(r, 0, "interpreter stopped: {e:?} at {rip:#x}");
            }
        } else {
            counts.interpreted += 1;
            let (r, e) = step(mem.data_mut(&mut store));
            assert_eq!(r, 0, "interpreter stopped: {e:?} at {rip:#x}");
        }
        assert!(
            counts.interpreted + counts.lifted_calls < 50_000_000,
            "runaway"
        );
    }
    counts.helper_steps = *store.data();
    let cpu = read_cpu(mem.data(&store));
    (cpu, mem.data(&store).to_vec(), counts)
}

/// Runs `code` both ways from `cpu` and asserts the same registers and memory.
pub fn check_same(code: &[u8], functions: &[u64], cpu: &Cpu) -> Counts {
    check_same_tables(code, functions, BTreeMap::new(), cpu)
}

pub fn check_same_tables(
    code: &[u8],
    functions: &[u64],
    tables: BTreeMap<u64, Vec<u64>>,
    cpu: &Cpu,
) -> Counts {
    let (wasm, entries) = module(code, functions, tables);
    wasmparser::validate(&wasm).expect("the lifted module validates");
    let (want, want_mem) = run_interp(code, cpu);
    let (got, got_mem, counts) = run_lifted(&wasm, &entries, code, cpu);
    // Flags are not compared: the code ends with `ret`, after which they are dead (the ABI);
    // tests that check flags store them with setcc or pushf first.
    assert_eq!(got.gpr, want.gpr, "registers differ");
    assert_eq!(got.xmm, want.xmm, "XMM registers differ");
    let g = GUEST_BASE as usize;
    let (a, b) = (&got_mem[g..], &want_mem[g..]);
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!(
            "memory differs at guest {i:#x}: lifted {:#x} interpreted {:#x}",
            a[i], b[i]
        );
    }
    counts
}
