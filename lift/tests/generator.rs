//! The instruction-test generator run three ways: every case of libc-shim's generator
//! (`libc-shim/src/interp/generator.rs`: 24 cases per instruction form) runs natively, in the
//! interpreter and lifted, and the lifted final state is compared with the native one under the
//! generator's masks and tolerances.
//!
//! Lifted: the case's snippet (at the generator's fixed address, ending with a jump to its
//! epilogue) is one lifted function (plus the branch target for `call` forms), translated by
//! [`oci2wasm_lift::translate::translate`] and run in wasmtime with guest memory at
//! [`GUEST_BASE`]. A small dispatcher plays the runtime: it calls the lifted entry for `rip`
//! when there is one and otherwise interprets one instruction, until `rip` reaches the
//! epilogue; the single-instruction helper lifted code calls is the host-compiled interpreter.
//! A case counts as inline when the form's own instruction never ran in the interpreter.
//!
//! - `generator_lifted_sample` (normal test run): every 10th form (about 15 s in the test
//!   profile), each row checked against `docs/coverage.md`.
//! - `generator_lifted_full` (ignored): every form; regenerates `docs/coverage.md` with
//!   `BLESS=1`, else fails if it is stale; fails if a form fails a lifted case:
//!
//!   `BLESS=1 cargo test -p oci2wasm-lift --release --test generator -- --ignored`
//!
//! - `generator_lifted_regressions` (normal test run): the forms in which this run found a
//!   lifter bug.
//! - `generator_lifted_only` (ignored): the forms whose `Code` name contains one of the
//!   comma-separated `GEN_ONLY` substrings, rows printed.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use iced_x86::{Code, FlowControl};
use libc_shim::cpu::Cpu;
use libc_shim::interp::generator::branch::TARGET;
use libc_shim::interp::generator::report::{TABLE, render, table_line};
use libc_shim::interp::generator::{CASES, Case, Row, ThirdRun, ThirdWay, run_all, run_form};
use libc_shim::interp::testing::{
    EPILOGUE, MEM_LEN, MEM_START, REGION, REGION_LEN, SNIPPET, State,
};
use libc_shim::interp::{Exit, Interp, rflags, set_rflags};
use libc_shim::mem::{GuestMem, perm};
use oci2wasm_lift::link::{EXIT_CONTINUE, Link, MapEntry, SIG_PARAMS, SIG_RESULTS};
use oci2wasm_lift::translate::{CodeBytes, Plan, translate};
use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, FunctionSection, ImportSection,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};
use wasmtime::{Caller, Engine, Linker, Store};

/// Linear address of the `Cpu`.
const CPU_ADDR: u32 = 0x1000;
/// Linear address of guest address 0.
const GUEST_BASE: u32 = 0x1_0000;
/// Wasm pages: the guest window up to the end of the generator's region.
const PAGES: u64 = (GUEST_BASE as u64 + REGION + REGION_LEN).div_ceil(65536);
/// Instructions a case may run (the interpreter's budget in the generator).
const BUDGET: u64 = 1_000_000;
/// The command that regenerates the table.
const COMMAND: &str = "BLESS=1 cargo test -p oci2wasm-lift --release --test generator -- --ignored";

struct Bytes(u64, Vec<u8>);

impl CodeBytes for Bytes {
    fn bytes_at(&self, addr: u64) -> Option<&[u8]> {
        let off = addr.checked_sub(self.0)? as usize;
        self.1.get(off..)
    }
}

fn link() -> Link {
    Link {
        first_func: 2,
        sig_type: 2,
        step_func: 0,
        rflags_func: 1,
        table_base: 0,
        guest_base: GUEST_BASE,
    }
}

/// The lifted module of a snippet (functions at `functions`, exported as `f<i>`) and its map.
fn module(code: &[u8], functions: BTreeSet<u64>) -> (Vec<u8>, Vec<MapEntry>) {
    let bytes = Bytes(SNIPPET, code.to_vec());
    let plan = Plan {
        code: &bytes,
        functions,
        jump_tables: Default::default(),
    };
    let (bodies, entries, _) = translate(&plan, &link(), 0);
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I64]);
    types.ty().function(SIG_PARAMS, SIG_RESULTS);
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

fn read_cpu(mem: &[u8]) -> Cpu {
    // SAFETY: `Cpu` is plain old data (`#[repr(C)]` integers) and the bytes are in bounds.
    unsafe { std::ptr::read_unaligned(mem.as_ptr().add(CPU_ADDR as usize) as *const Cpu) }
}

fn write_cpu(mem: &mut [u8], cpu: &Cpu) {
    // SAFETY: as for `read_cpu`.
    unsafe { std::ptr::write_unaligned(mem.as_mut_ptr().add(CPU_ADDR as usize) as *mut Cpu, *cpu) }
}

/// The store's data: the interpreter behind the helper and what it saw.
struct Host {
    interp: Interp,
    /// Address of the form's instruction.
    form_at: u64,
    /// Whether the interpreter ran the form's instruction.
    interpreted_form: bool,
    /// Instructions interpreted (helper and dispatcher).
    steps: u64,
    /// How the last interpreted instruction stopped, when it did.
    stop: Option<Exit>,
}

impl Host {
    /// Interprets one instruction of the state in `mem` with the generator's page permissions
    /// (its code pages executable, the data area and stack writable); true if it stopped.
    fn step(&mut self, mem: &mut [u8]) -> bool {
        let mut cpu = read_cpu(mem);
        self.interpreted_form |= cpu.rip == self.form_at;
        self.steps += 1;
        // SAFETY: the window lies inside the Wasm memory's bytes, which outlive this GuestMem
        // (dropped at the end of this call), and nothing else touches them meanwhile.
        let mut g = unsafe {
            GuestMem::new(
                mem.as_mut_ptr().add(GUEST_BASE as usize),
                REGION + REGION_LEN,
            )
        };
        g.protect(REGION, 0x3000, perm::RWX).unwrap();
        g.protect(MEM_START, MEM_LEN, perm::RW).unwrap();
        let exit = self.interp.run(&mut cpu, &mut g, 1);
        write_cpu(mem, &cpu);
        match exit {
            Exit::BudgetExhausted => false,
            e => {
                self.stop = Some(e);
                true
            }
        }
    }
}

/// A compiled snippet and its lifted-code map, or why there is none.
type Compiled = Result<(wasmtime::Module, Vec<MapEntry>), String>;

/// Runs the cases lifted; compiled modules are kept per snippet within a form.
struct Lifted {
    engine: Engine,
    linker: Linker<Host>,
    interp: Option<Interp>,
    /// The current form's compiled snippets.
    form: Option<Code>,
    compiled: HashMap<Vec<u8>, Compiled>,
}

impl Lifted {
    fn new() -> Lifted {
        let engine = Engine::default();
        let mut linker: Linker<Host> = Linker::new(&engine);
        let mem_of = |c: &mut Caller<'_, Host>| c.get_export("mem").unwrap().into_memory().unwrap();
        linker
            .func_wrap("env", "step", move |mut c: Caller<'_, Host>, _cpu: i32| {
                let m = mem_of(&mut c);
                let (data, host) = m.data_and_store_mut(&mut c);
                host.step(data) as i32
            })
            .unwrap();
        linker
            .func_wrap(
                "env",
                "rflags",
                move |mut c: Caller<'_, Host>, _cpu: i32| {
                    let m = mem_of(&mut c);
                    rflags(&read_cpu(m.data(&c))) as i64
                },
            )
            .unwrap();
        Lifted {
            engine,
            linker,
            interp: Some(Interp::new()),
            form: None,
            compiled: HashMap::new(),
        }
    }

    /// The compiled module of a snippet, or why there is none (the translator panicked or
    /// emitted an invalid module).
    fn compile(&mut self, code: Code, snippet: &[u8]) -> Compiled {
        if self.form != Some(code) {
            self.form = Some(code);
            self.compiled.clear();
        }
        if let Some(c) = self.compiled.get(snippet) {
            return c.clone();
        }
        // A call form's target is a function of its own, so the call is lowered as a call.
        let mut functions = BTreeSet::from([SNIPPET]);
        if matches!(
            code.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall
        ) {
            functions.insert(TARGET);
        }
        let c = catch_unwind(AssertUnwindSafe(|| module(snippet, functions)))
            .map_err(|p| format!("translator panicked: {}", panic_text(&p)))
            .and_then(|(wasm, entries)| {
                wasmparser::validate(&wasm).map_err(|e| format!("invalid module: {e}"))?;
                let m = wasmtime::Module::new(&self.engine, &wasm)
                    .map_err(|e| format!("does not compile: {e}"))?;
                Ok((m, entries))
            });
        self.compiled.insert(snippet.to_vec(), c.clone());
        c
    }

    /// Runs one case lifted: the final state, whether the form's instruction ran in lifted code.
    fn run_case(&mut self, code: Code, case: &Case) -> (Result<State, String>, bool) {
        let (module, entries) = match self.compile(code, &case.code) {
            Ok(c) => c,
            Err(e) => return (Err(e), false),
        };
        let host = Host {
            interp: self.interp.take().unwrap_or_default(),
            form_at: case.form_at,
            interpreted_form: false,
            steps: 0,
            stop: None,
        };
        let mut store = Store::new(&self.engine, host);
        let result = catch_unwind(AssertUnwindSafe(|| {
            run(&self.linker, &mut store, &module, &entries, case)
        }))
        .unwrap_or_else(|p| Err(format!("lifted run panicked: {}", panic_text(&p))));
        let host = store.into_data();
        self.interp = Some(host.interp);
        (result, !host.interpreted_form)
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The dispatcher: from the case's input until `rip` reaches the epilogue.
fn run(
    linker: &Linker<Host>,
    store: &mut Store<Host>,
    module: &wasmtime::Module,
    entries: &[MapEntry],
    case: &Case,
) -> Result<State, String> {
    let inst = linker
        .instantiate(&mut *store, module)
        .map_err(|e| format!("{e}"))?;
    let mem = inst.get_memory(&mut *store, "mem").unwrap();
    let input = &case.input;
    {
        let data = mem.data_mut(&mut *store);
        let g = GUEST_BASE as usize;
        let at = g + SNIPPET as usize;
        data[at..at + case.code.len()].copy_from_slice(&case.code);
        data[g + EPILOGUE as usize] = 0xf4;
        let at = g + MEM_START as usize;
        data[at..at + input.mem.len()].copy_from_slice(&input.mem);
        let mut cpu = Cpu {
            gpr: input.gpr,
            rip: SNIPPET,
            xmm: input.xmm,
            mxcsr: input.mxcsr,
            ..Cpu::default()
        };
        set_rflags(&mut cpu, input.rflags);
        write_cpu(data, &cpu);
    }
    let map: HashMap<u64, MapEntry> = entries.iter().map(|e| (e.addr, *e)).collect();
    let mut calls = 0u64;
    loop {
        let rip = read_cpu(mem.data(&*store)).rip;
        if rip == EPILOGUE {
            break;
        }
        if calls + store.data().steps > BUDGET {
            return Err(format!(
                "lifted run did not reach the epilogue (rip {rip:#x})"
            ));
        }
        if let Some(e) = map.get(&rip) {
            calls += 1;
            let f = inst
                .get_typed_func::<(i32, i32, i32), i32>(&mut *store, &format!("f{}", e.func))
                .unwrap();
            let r = f
                .call(&mut *store, (CPU_ADDR as i32, e.block as i32, 0))
                .map_err(|e| format!("lifted code trapped: {e}"))?;
            if r != EXIT_CONTINUE {
                let cpu = read_cpu(mem.data(&*store));
                let stop = store.data().stop;
                return Err(format!(
                    "lifted code stopped ({r}, {stop:?}) at {:#x}",
                    cpu.rip
                ));
            }
            // Lifted code left at its entry for the interpreter: as the runtime does, interpret
            // that instruction.
            if read_cpu(mem.data(&*store)).rip != rip {
                continue;
            }
        }
        let (data, host) = mem.data_and_store_mut(&mut *store);
        if host.step(data) {
            let stop = host.stop;
            return Err(format!("interpreter stopped with {stop:?} at {rip:#x}"));
        }
    }
    let data = mem.data(&*store);
    let cpu = read_cpu(data);
    let mut out = input.clone();
    out.gpr = cpu.gpr;
    out.rflags = rflags(&cpu);
    out.xmm = cpu.xmm;
    out.mxcsr = cpu.mxcsr;
    let at = GUEST_BASE as usize + MEM_START as usize;
    out.mem.copy_from_slice(&data[at..at + MEM_LEN as usize]);
    Ok(out)
}

impl ThirdWay for Lifted {
    fn run(&mut self, code: Code, case: &Case) -> ThirdRun {
        let (result, inline) = self.run_case(code, case);
        ThirdRun { result, inline }
    }
}

fn run_lifted(sample: Option<usize>) -> (Vec<Row>, libc_shim::interp::generator::forms::Excluded) {
    let mut lifted = Lifted::new();
    run_all(sample, Some(&mut lifted))
}

/// Every 10th form, each row checked against `docs/coverage.md`.
#[test]
fn generator_lifted_sample() {
    let (rows, _) = run_lifted(Some(10));
    let table = std::fs::read_to_string(TABLE).unwrap_or_default();
    let (mut lifted, mut inline) = (0, 0);
    for r in &rows {
        let l = table_line(r);
        assert!(
            table.contains(&l),
            "row differs from docs/coverage.md (`{COMMAND}`): {l}"
        );
        lifted += r.third.as_ref().is_some_and(|t| t.passed + t.failed > 0) as usize;
        inline += r.third.as_ref().is_some_and(|t| t.inline > 0) as usize;
    }
    assert!(lifted > 100, "only {lifted} sampled forms ran lifted");
    assert!(inline > 30, "only {inline} sampled forms ran inline");
}

/// Forms in which the lifted run found a lifter bug, run on every test run: `push imm16` and
/// `push imm8` with a 0x66 prefix were lowered as 8-byte pushes.
const REGRESSIONS: &[Code] = &[Code::Push_imm16, Code::Pushw_imm8];

#[test]
fn generator_lifted_regressions() {
    let (forms, _) = libc_shim::interp::generator::forms::forms();
    let mut lifted = Lifted::new();
    for &code in REGRESSIONS {
        let f = forms.iter().find(|f| f.code == code).expect("a form");
        let r = run_form(f.code, f.variant, CASES, Some(&mut lifted));
        let t = r.third.as_ref().expect("ran lifted");
        assert_eq!((t.passed, t.failed), (CASES, 0), "{}", table_line(&r));
    }
}

/// Every form: regenerates (`BLESS=1`) or checks `docs/coverage.md`; fails on a form that fails
/// a lifted case.
#[test]
#[ignore = "runs every form three ways; use --release"]
fn generator_lifted_full() {
    let (rows, ex) = run_lifted(None);
    let table = render(&rows, &ex);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(TABLE, &table).unwrap();
    } else {
        let old = std::fs::read_to_string(TABLE).unwrap_or_default();
        assert!(old == table, "docs/coverage.md is stale; run `{COMMAND}`");
    }
    let failing: Vec<String> = rows
        .iter()
        .filter(|r| r.failed > 0 || r.third.as_ref().is_some_and(|t| t.failed > 0))
        .map(table_line)
        .collect();
    assert!(failing.is_empty(), "failing forms:\n{}", failing.join("\n"));
}

/// The forms whose `Code` name contains one of the comma-separated `GEN_ONLY` substrings, run
/// three ways; their rows are printed (the table is not touched).
#[test]
#[ignore = "debugging aid; set GEN_ONLY"]
fn generator_lifted_only() {
    let only = std::env::var("GEN_ONLY").unwrap_or_default();
    let (forms, _) = libc_shim::interp::generator::forms::forms();
    let mut lifted = Lifted::new();
    for f in forms {
        let name = format!("{:?}", f.code);
        if f.run.is_ok() && only.split(',').any(|s| !s.is_empty() && name.contains(s)) {
            let r = run_form(f.code, f.variant, CASES, Some(&mut lifted));
            println!("{}", table_line(&r));
        }
    }
}
