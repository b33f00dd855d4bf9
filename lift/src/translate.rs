//! The translator: each discovered guest function becomes one Wasm function (see [`crate::link`]
//! for the calling contract and `emit` for the function skeleton).
//!
//! - Guest registers live in Wasm locals; they are loaded from the CPU state on entry and after
//!   calls and helpers, and stored back at exits, before calls and around helpers.
//! - Flags follow the interpreter's lazy form and are computed only where read (`flags`); flag
//!   liveness (`cfg`) drops the recording of dead ones.
//! - Direct calls to lifted functions are Wasm calls; the guest return address is still pushed,
//!   and after the call the code checks that the guest came back there (else it leaves to the
//!   runtime, which makes longjmp and signal returns safe). Tail jumps are Wasm calls whose result
//!   is returned. Indirect calls and jumps outside known jump tables go through the ELF's
//!   dispatch function (`dispatch`), which calls the lifted function at the target or leaves to
//!   the runtime, which looks the target up in the lifted map and otherwise interprets.
//! - Instructions not lowered inline run in the interpreter through the single-instruction
//!   helper; `syscall` is one of them and ends its block, so the runtime resumes after it.
//!
//! Memory accesses are plain Wasm loads and stores at `guest_base + address`: lifted code does
//! not check page permissions (the interpreter does), so a stray access that the interpreter
//! would turn into SIGSEGV reads or writes the guest window instead, and one past the memory
//! traps. Code that writes to its own text is not detected by lifted code.

mod cfg;
mod dataflow;
mod dispatch;
mod emit;
mod flags;
#[cfg(test)]
mod golden;
mod insn;
mod insn_bits;
mod insn_fp;
mod insn_muldiv;
mod insn_sse;
mod insn_string;
mod regs;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calls;

use iced_x86::{FlowControl, Instruction, Mnemonic};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wasm_encoder::{BlockType, Instruction as I};

use crate::link::{EXIT_CONTINUE, LiftedElf, Link, MapEntry, Report};
use cfg::{Cfg, Context, End};
use emit::{ENTRY, EXIT_CODE, Fx, ICNT, Label, NEXT};
use flags::State;
use insn::At;

/// Where the translator reads guest code.
pub trait CodeBytes {
    /// The bytes from `addr` to the end of the code region holding it.
    fn bytes_at(&self, addr: u64) -> Option<&[u8]>;
}

impl CodeBytes for crate::code::Code<'_> {
    fn bytes_at(&self, addr: u64) -> Option<&[u8]> {
        crate::code::Code::bytes_at(self, addr)
    }
}

/// The functions to translate and what is known about indirect jumps.
#[allow(missing_debug_implementations)]
pub struct Plan<'a> {
    pub code: &'a dyn CodeBytes,
    pub functions: BTreeSet<u64>,
    pub jump_tables: BTreeMap<u64, Vec<u64>>,
}

/// Translates the functions of `plan`; lifted function `i` gets index `link.first_func + first + i`.
pub fn translate(
    plan: &Plan<'_>,
    link: &Link,
    first: u32,
) -> (Vec<Vec<u8>>, Vec<MapEntry>, Report) {
    let cx = Context {
        code: plan.code,
        functions: &plan.functions,
        jump_tables: &plan.jump_tables,
    };
    let cfgs: Vec<Cfg> = plan
        .functions
        .iter()
        .filter_map(|&f| Cfg::build(f, &cx))
        .collect();
    let clobber = dataflow::clobbers(&cfgs, &plan.functions);
    let by_entry: HashMap<u64, (u32, u32)> = cfgs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.entry, (first + i as u32, c.index[&c.entry] as u32)))
        .collect();
    let mut report = Report {
        functions_found: plan.functions.len(),
        functions_lifted: cfgs.len(),
        ..Report::default()
    };
    let mut helpers: HashMap<Mnemonic, u64> = HashMap::new();
    // The dispatch function follows this ELF's lifted functions.
    let dispatch = first + cfgs.len() as u32;
    let mut bodies = Vec::with_capacity(cfgs.len() + 1);
    let mut entries: BTreeMap<u64, MapEntry> = BTreeMap::new();
    for (i, c) in cfgs.iter().enumerate() {
        let dirty = dataflow::dirty_in(c, &cx);
        let body = Function::new(c, link, &by_entry, &plan.jump_tables, dirty, &clobber)
            .with_dispatch(dispatch)
            .emit(&mut report, &mut helpers);
        report.wasm_bytes += body.len() as u64;
        bodies.push(body);
        for (k, b) in c.blocks.iter().enumerate() {
            let e = MapEntry {
                addr: b.start,
                func: i as u32,
                block: k as u32,
            };
            // A block shared by two functions: prefer the function it starts.
            if b.start == c.entry || !entries.contains_key(&b.start) {
                entries.insert(b.start, e);
            }
            report.code_bytes_covered += b.insns.iter().map(|x| x.len() as u64).sum::<u64>();
        }
    }
    let mut top: Vec<(String, u64)> = helpers
        .into_iter()
        .map(|(m, n)| (format!("{m:?}").to_lowercase(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(20);
    report.helper_mnemonics = top;
    if !cfgs.is_empty() {
        let targets: Vec<dispatch::Target> = cfgs
            .iter()
            .map(|c| {
                let (func, block) = by_entry[&c.entry];
                dispatch::Target {
                    addr: c.entry,
                    func,
                    block,
                }
            })
            .collect();
        let body = dispatch::body(link, &targets);
        report.wasm_bytes += body.len() as u64;
        bodies.push(body);
    }
    (bodies, entries.into_values().collect(), report)
}

/// Lifts one ELF: discovery, then translation.
pub fn lift_elf(
    path: &str,
    bytes: &[u8],
    bias: u64,
    link: &Link,
    first: u32,
) -> Result<LiftedElf, crate::discover::DiscoverError> {
    lift_elf_with(path, bytes, bias, link, first, &BTreeSet::new())
}

/// [`lift_elf`] with `extra` code addresses (from a profile of interpreted targets) lifted as
/// function entries too; those outside the ELF's code are ignored.
pub fn lift_elf_with(
    path: &str,
    bytes: &[u8],
    bias: u64,
    link: &Link,
    first: u32,
    extra: &BTreeSet<u64>,
) -> Result<LiftedElf, crate::discover::DiscoverError> {
    let code = crate::code::Code::new(bytes, bias)?;
    let found = crate::discover::discover(&code, bytes)?;
    let mut functions: BTreeSet<u64> = found.functions.keys().copied().collect();
    functions.extend(extra.iter().copied().filter(|&a| code.is_code(a)));
    let plan = Plan {
        code: &code,
        functions,
        jump_tables: found.jump_tables.clone(),
    };
    let (funcs, entries, report) = translate(&plan, link, first);
    Ok(LiftedElf {
        path: path.to_string(),
        bias,
        funcs,
        entries,
        report,
    })
}

/// One function being emitted.
struct Function<'a> {
    cfg: &'a Cfg,
    fx: Fx<'a>,
    /// Entry address -> (function index, entry block) of every lifted function.
    callees: &'a HashMap<u64, (u32, u32)>,
    jump_tables: &'a BTreeMap<u64, Vec<u64>>,
    /// Registers whose locals may differ from the CPU state: at each block's entry, and now.
    dirty_in: Vec<u16>,
    /// Function entry -> registers a call of it may change in the CPU state.
    clobber: &'a HashMap<u64, u16>,
    /// The dispatch function (relative to `first_func`), which indirect transfers call.
    dispatch: u32,
    dirty: u16,
    /// The block being emitted.
    cur: usize,
}

impl<'a> Function<'a> {
    fn new(
        cfg: &'a Cfg,
        link: &'a Link,
        callees: &'a HashMap<u64, (u32, u32)>,
        jump_tables: &'a BTreeMap<u64, Vec<u64>>,
        dirty_in: Vec<u16>,
        clobber: &'a HashMap<u64, u16>,
    ) -> Self {
        let (mut used, mut modified) = (1u16 << 4, 1u16 << 4);
        for b in &cfg.blocks {
            for ins in &b.insns {
                let (r, w) = regs::of(ins);
                used |= r | w;
                modified |= w;
            }
        }
        Function {
            cfg,
            fx: Fx::new(link, used, modified),
            callees,
            jump_tables,
            dirty_in,
            clobber,
            dispatch: u32::MAX,
            dirty: 0,
            cur: 0,
        }
    }

    fn with_dispatch(mut self, dispatch: u32) -> Self {
        self.dispatch = dispatch;
        self
    }

    fn emit(mut self, report: &mut Report, helpers: &mut HashMap<Mnemonic, u64>) -> Vec<u8> {
        let n = self.cfg.blocks.len();
        let fx = &mut self.fx;
        fx.load_gprs(fx.used);
        if self.cfg.blocks.iter().any(|b| b.live_in != 0) {
            fx.load_flags();
        } else {
            fx.cpu_load64(libc_shim::cpu::offset::FLAGS_STORED);
            fx.i(I::LocalSet(emit::F_STORED));
        }
        fx.call_guard(self.cfg.entry);
        fx.i(I::LocalGet(ENTRY)).i(I::LocalSet(NEXT));
        fx.push_label(Label::ExitDone, BlockType::Empty, false);
        fx.push_label(Label::ExitKeepFlags, BlockType::Empty, false);
        fx.push_label(Label::Exit, BlockType::Empty, false);
        fx.push_label(Label::Top, BlockType::Empty, true);
        for k in (0..n).rev() {
            fx.push_label(Label::Before(k), BlockType::Empty, false);
        }
        let targets: Vec<u32> = (0..n as u32).collect();
        fx.i(I::LocalGet(NEXT)).i(I::BrTable(targets.into(), 0));
        for k in 0..n {
            self.fx.end(); // Before(k)
            self.cur = k;
            self.block(k, report, helpers);
        }
        let fx = &mut self.fx;
        fx.end(); // Top
        fx.i(I::Unreachable);
        fx.end(); // Exit
        fx.store_flags();
        fx.end(); // ExitKeepFlags
        fx.epilogue();
        fx.end(); // ExitDone
        fx.flush_count();
        fx.i(I::LocalGet(EXIT_CODE));
        fx.i(I::End);
        fx.f.clone().into_raw_body()
    }

    /// Continues at `addr`: a branch within the function or a way out.
    fn goto(&mut self, addr: u64) {
        match self.cfg.index.get(&addr) {
            Some(&k) if k == self.cur && self.fx.is_open(Label::Loop(k)) => {
                self.fx.br(Label::Loop(k));
            }
            Some(&k) if k == self.cur + 1 && self.fx.depth(Label::Before(k)) == 0 => {}
            Some(&k) if k > self.cur => self.fx.br(Label::Before(k)),
            Some(&k) => {
                self.fx.i(I::I32Const(k as i32)).i(I::LocalSet(NEXT));
                self.fx.br(Label::Top);
            }
            None => self.fx.exit_to(addr),
        }
    }

    /// Adds `n` retired instructions to the counter.
    fn bump(&mut self, n: &mut i64) {
        if *n > 0 {
            self.fx
                .i(I::LocalGet(ICNT))
                .i(I::I64Const(*n))
                .i(I::I64Add)
                .i(I::LocalSet(ICNT));
        }
        *n = 0;
    }

    fn block(&mut self, k: usize, report: &mut Report, helpers: &mut HashMap<Mnemonic, u64>) {
        let b = &self.cfg.blocks[k];
        let mut st = State::Unknown;
        let mut pending = 0i64;
        self.dirty = self.dirty_in[k];
        self.fx.high = 0;
        let last = b.insns.len() - 1;
        // A block whose last instruction branches to its start loops without the br_table.
        let self_loop = b.end == End::Insn && {
            let t = &b.insns[last];
            (t.is_jcc_short_or_near() || t.is_jmp_short_or_near())
                && t.near_branch_target() == b.start
        };
        if self_loop {
            self.fx.push_label(Label::Loop(k), BlockType::Empty, true);
        }
        for (i, ins) in b.insns.iter().enumerate() {
            self.fx.flags_dead = cfg::step_back(ins, b.live_after[i]) & cfg::ARITH == 0;
            if i == last && b.end == End::Insn {
                pending += 1;
                self.bump(&mut pending);
                self.terminator(ins, &mut st, report, helpers);
                continue;
            }
            let at = At {
                live_after: b.live_after[i],
            };
            if !self.fx.lower_inline_checked(ins, &at, &mut st) {
                self.bump(&mut pending);
                self.fx.helper(ins, &mut st);
                report.insns_helper += 1;
                *helpers.entry(ins.mnemonic()).or_default() += 1;
            } else {
                pending += 1;
                report.insns_inline += 1;
            }
            self.dirty = dataflow::dirty_step(ins, self.dirty);
            self.fx.high &= !regs::of(ins).1;
        }
        self.bump(&mut pending);
        match b.end {
            End::Fall(a) => self.goto(a),
            End::Exit(a) => self.fx.exit_to(a),
            End::Insn => {}
        }
        if self_loop {
            self.fx.end();
        }
    }

    /// Lowers the block's last instruction, which transfers control.
    fn terminator(
        &mut self,
        ins: &Instruction,
        st: &mut State,
        report: &mut Report,
        helpers: &mut HashMap<Mnemonic, u64>,
    ) {
        let next = ins.next_ip();
        if ins.mnemonic() == Mnemonic::Syscall {
            report.insns_helper += 1;
            *helpers.entry(ins.mnemonic()).or_default() += 1;
            self.fx.helper(ins, st);
            self.goto(next);
            return;
        }
        report.insns_inline += 1;
        match ins.flow_control() {
            FlowControl::ConditionalBranch if ins.is_jcc_short_or_near() => {
                self.fx.cond(*st, ins.condition_code());
                self.fx.if_();
                self.goto(ins.near_branch_target());
                self.fx.end();
                self.goto(next);
            }
            FlowControl::UnconditionalBranch if ins.is_jmp_short_or_near() => {
                let t = ins.near_branch_target();
                if self.cfg.index.contains_key(&t) {
                    self.goto(t);
                } else if let Some(&(func, block)) = self.callees.get(&t) {
                    self.tail_call(func, block);
                } else {
                    self.fx.exit_to(t);
                }
            }
            FlowControl::IndirectBranch if ins.op_count() == 1 => {
                self.fx.ea_target(ins);
                self.fx.i(I::LocalSet(emit::T0 + 3));
                if let Some(ts) = self.cfg_jump_targets(ins) {
                    for t in ts {
                        self.fx
                            .i(I::LocalGet(emit::T0 + 3))
                            .i(I::I64Const(t as i64))
                            .i(I::I64Eq);
                        self.fx.if_();
                        self.goto(t);
                        self.fx.end();
                    }
                }
                self.indirect_jump(emit::T0 + 3);
            }
            FlowControl::Call if ins.is_call_near() => {
                let t = ins.near_branch_target();
                self.fx.push_value(|fx| {
                    fx.i(I::I64Const(next as i64));
                });
                match self.callees.get(&t) {
                    Some(&(func, block)) => self.call(t, func, block, next),
                    // Flags are dead at a call's target (the ABI).
                    None => self.fx.exit_to_keep_flags(t),
                }
            }
            FlowControl::IndirectCall if ins.op_count() == 1 => {
                self.fx.ea_target(ins);
                self.fx.i(I::LocalSet(emit::T0 + 3));
                self.fx.push_value(|fx| {
                    fx.i(I::I64Const(next as i64));
                });
                self.indirect_call(emit::T0 + 3, next);
            }
            FlowControl::Return if ins.mnemonic() == Mnemonic::Ret => {
                let extra = if ins.op_count() == 1 {
                    ins.immediate16() as u64
                } else {
                    0
                };
                self.fx.pop_value(extra);
                // Flags are dead after `ret` (the ABI).
                self.fx.exit_dynamic_keep_flags(EXIT_CONTINUE);
            }
            _ => {
                // Far transfers, interrupts, exceptions: the interpreter does them.
                self.fx.exit_to(ins.ip());
            }
        }
    }

    fn cfg_jump_targets(&self, ins: &Instruction) -> Option<Vec<u64>> {
        self.jump_tables.get(&ins.ip()).cloned()
    }

    /// A direct call of a lifted function whose return address is already pushed. Afterwards
    /// only the registers the callee (and what it calls) may have changed are reloaded; if it
    /// stopped or did not come back to `ret`, the function leaves with the CPU state as the
    /// callee left it.
    fn call(&mut self, target: u64, func: u32, block: u32, ret: u64) {
        let fx = &mut self.fx;
        // The pushed return address made rsp dirty.
        fx.store_gprs(self.dirty | 1 << 4);
        fx.call_lifted(func, block);
        let changed = self.clobber.get(&target).copied().unwrap_or(u16::MAX);
        self.after_call(changed, ret);
    }

    /// After a call whose exit code is on the stack: leaves if the callee stopped or did not
    /// come back to `ret`, else reloads the registers in `changed` (and rsp) and continues there.
    ///
    /// The way out stores nothing ([`Label::ExitDone`]): every register this function holds was
    /// stored before the call, and the callee left what it changed (and rip) in `cpu`.
    fn after_call(&mut self, changed: u16, ret: u64) {
        let fx = &mut self.fx;
        fx.i(I::LocalTee(EXIT_CODE));
        fx.cpu_load64(libc_shim::cpu::offset::RIP);
        fx.i(I::I64Const(ret as i64)).i(I::I64Ne).i(I::I32Or);
        fx.if_();
        fx.br(Label::ExitDone);
        fx.end();
        fx.load_gprs((fx.used & changed) | 1 << 4);
        self.goto(ret);
    }

    /// An indirect call (return address already pushed) of the address in local `target`
    /// through the dispatch function; afterwards as [`Self::call`], with every register the
    /// function uses reloaded (the callee is unknown).
    fn indirect_call(&mut self, target: u32, ret: u64) {
        let fx = &mut self.fx;
        fx.store_gprs(self.dirty | 1 << 4);
        fx.cpu_store64(libc_shim::cpu::offset::RIP, |fx| {
            fx.i(I::LocalGet(target));
        });
        fx.call_lifted(self.dispatch, 0);
        self.after_call(u16::MAX, ret);
    }

    /// An indirect jump to the address in local `target` through the dispatch function, which
    /// returns what the target returns (or leaves the target in `cpu.rip` for the runtime).
    fn indirect_jump(&mut self, target: u32) {
        let fx = &mut self.fx;
        fx.store_gprs(fx.modified);
        fx.store_flags();
        fx.flush_count();
        fx.cpu_store64(libc_shim::cpu::offset::RIP, |fx| {
            fx.i(I::LocalGet(target));
        });
        fx.call_lifted(self.dispatch, 0);
        fx.i(I::Return);
    }

    /// A jump to another lifted function: call it and return what it returns.
    fn tail_call(&mut self, func: u32, block: u32) {
        let fx = &mut self.fx;
        fx.store_gprs(fx.modified);
        fx.store_flags();
        fx.flush_count();
        fx.call_lifted(func, block);
        fx.i(I::Return);
    }
}
