//! One guest function's control-flow graph: the instructions reachable from its entry through
//! intra-function edges, cut into basic blocks, with arithmetic-flag liveness.
//!
//! Blocks end at every branch, call (its return address starts a block, so the runtime can resume
//! there), `syscall` (the same, after the runtime served it), return, and before any address that
//! another edge targets. A direct `jmp` to another known function is a tail call, not an edge.
//! Liveness follows the System V ABI: arithmetic flags are dead across `call` and `ret` (no
//! calling convention passes flags), and live at every other way out of the function.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, RflagsBits};
use std::collections::{BTreeMap, BTreeSet};

use super::CodeBytes;

/// Instructions one function may hold before it is left to the interpreter.
pub const MAX_INSNS: usize = 50_000;

/// The six arithmetic flags in iced's bit layout.
pub const ARITH: u32 = RflagsBits::CF
    | RflagsBits::PF
    | RflagsBits::AF
    | RflagsBits::ZF
    | RflagsBits::SF
    | RflagsBits::OF;

/// How a block ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The last instruction is a terminator the emitter lowers (branch, call, return, syscall...).
    Insn,
    /// Execution falls into the block at this address.
    Fall(u64),
    /// Decoding failed or left the code at this address: hand it to the runtime.
    Exit(u64),
}

#[derive(Clone, Debug)]
pub struct Block {
    pub start: u64,
    pub insns: Vec<Instruction>,
    pub end: End,
    /// Flags (iced bits) live at entry, and after each instruction.
    pub live_in: u32,
    pub live_after: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Cfg {
    pub entry: u64,
    /// In address order; the entry is not necessarily first.
    pub blocks: Vec<Block>,
    pub index: BTreeMap<u64, usize>,
}

/// What the CFG builder needs to know about the rest of the program.
pub struct Context<'a> {
    pub code: &'a dyn CodeBytes,
    /// Function entries (a direct jump to one of these, other than ourselves, is a tail call).
    pub functions: &'a BTreeSet<u64>,
    /// Indirect `jmp` address -> its jump-table targets.
    pub jump_tables: &'a BTreeMap<u64, Vec<u64>>,
}

fn decode_at(code: &dyn CodeBytes, addr: u64) -> Option<Instruction> {
    let bytes = code.bytes_at(addr)?;
    let mut d = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
    let ins = d.decode();
    (!ins.is_invalid()).then_some(ins)
}

/// Whether `ins` ends a block, and the intra-function successors it adds.
fn successors(ins: &Instruction, entry: u64, cx: &Context<'_>) -> (bool, Vec<u64>) {
    let next = ins.next_ip();
    if ins.mnemonic() == Mnemonic::Syscall {
        return (true, vec![next]);
    }
    let intra = |t: u64| t == entry || !cx.functions.contains(&t);
    match ins.flow_control() {
        FlowControl::Next => (false, vec![next]),
        FlowControl::ConditionalBranch => {
            let t = ins.near_branch_target();
            let mut s = vec![next];
            if intra(t) && ins.is_jcc_short_or_near() {
                s.push(t);
            }
            (true, s)
        }
        FlowControl::UnconditionalBranch => {
            let t = ins.near_branch_target();
            if ins.is_jmp_short_or_near() && t != entry && intra(t) {
                (true, vec![t])
            } else {
                (true, vec![])
            }
        }
        FlowControl::IndirectBranch => (
            true,
            cx.jump_tables.get(&ins.ip()).cloned().unwrap_or_default(),
        ),
        FlowControl::Call | FlowControl::IndirectCall => (true, vec![next]),
        _ => (true, vec![]),
    }
}

impl Cfg {
    /// The function at `entry`, or `None` if it cannot be decoded or is too large.
    pub fn build(entry: u64, cx: &Context<'_>) -> Option<Cfg> {
        let mut insns: BTreeMap<u64, Instruction> = BTreeMap::new();
        let mut starts: BTreeSet<u64> = BTreeSet::from([entry]);
        let mut work = vec![entry];
        decode_at(cx.code, entry)?;
        while let Some(mut addr) = work.pop() {
            loop {
                if insns.contains_key(&addr) {
                    // Joined code decoded before: start a block there rather than duplicate it.
                    starts.insert(addr);
                    break;
                }
                let Some(ins) = decode_at(cx.code, addr) else {
                    break;
                };
                insns.insert(addr, ins);
                if insns.len() > MAX_INSNS {
                    return None;
                }
                let (ends, succ) = successors(&ins, entry, cx);
                if !ends {
                    addr = ins.next_ip();
                    if addr != entry && cx.functions.contains(&addr) {
                        break;
                    }
                    continue;
                }
                for s in succ {
                    // Falling (or returning) into another function: leave it to that function
                    // rather than copy it into this one.
                    if s != entry && cx.functions.contains(&s) {
                        continue;
                    }
                    if starts.insert(s) || !insns.contains_key(&s) {
                        work.push(s);
                    }
                }
                break;
            }
        }
        let mut blocks = Vec::new();
        for &start in &starts {
            if !insns.contains_key(&start) {
                continue;
            }
            let mut b = Block {
                start,
                insns: Vec::new(),
                end: End::Insn,
                live_in: 0,
                live_after: Vec::new(),
            };
            let mut addr = start;
            loop {
                let Some(ins) = insns.get(&addr) else {
                    b.end = End::Exit(addr);
                    break;
                };
                b.insns.push(*ins);
                let (ends, _) = successors(ins, entry, cx);
                if ends {
                    break;
                }
                addr = ins.next_ip();
                if starts.contains(&addr) && insns.contains_key(&addr) {
                    b.end = End::Fall(addr);
                    break;
                }
            }
            blocks.push(b);
        }
        let index = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (b.start, i))
            .collect();
        let mut cfg = Cfg {
            entry,
            blocks,
            index,
        };
        cfg.liveness(cx);
        Some(cfg)
    }

    /// The blocks that may run right after block `i` within this function.
    pub fn succs(&self, i: usize, cx: &Context<'_>) -> Vec<usize> {
        let b = &self.blocks[i];
        let mut out = Vec::new();
        let mut add = |a: u64| {
            if let Some(&k) = self.index.get(&a) {
                out.push(k);
            }
        };
        match b.end {
            End::Fall(a) => add(a),
            End::Exit(_) => {}
            End::Insn => {
                let ins = b.insns.last().expect("a block has an instruction");
                if ins.mnemonic() == Mnemonic::Syscall {
                    add(ins.next_ip());
                } else {
                    match ins.flow_control() {
                        FlowControl::ConditionalBranch => {
                            add(ins.next_ip());
                            add(ins.near_branch_target());
                        }
                        FlowControl::UnconditionalBranch => add(ins.near_branch_target()),
                        FlowControl::IndirectBranch => {
                            for &t in cx.jump_tables.get(&ins.ip()).into_iter().flatten() {
                                add(t);
                            }
                        }
                        FlowControl::Call | FlowControl::IndirectCall => add(ins.next_ip()),
                        _ => {}
                    }
                }
            }
        }
        out
    }

    /// Flags live after the block's last instruction, from its successors.
    fn live_out(&self, b: &Block, cx: &Context<'_>) -> u32 {
        let at = |a: u64| {
            self.index
                .get(&a)
                .map_or(ARITH, |&i| self.blocks[i].live_in)
        };
        match b.end {
            End::Fall(a) => at(a),
            End::Exit(_) => ARITH,
            End::Insn => {
                let ins = b.insns.last().expect("a block has an instruction");
                if ins.mnemonic() == Mnemonic::Syscall {
                    return at(ins.next_ip());
                }
                match ins.flow_control() {
                    FlowControl::Call | FlowControl::IndirectCall | FlowControl::Return => 0,
                    FlowControl::ConditionalBranch => {
                        at(ins.next_ip()) | at(ins.near_branch_target())
                    }
                    FlowControl::UnconditionalBranch => {
                        let t = ins.near_branch_target();
                        if self.index.contains_key(&t) {
                            at(t)
                        } else if cx.functions.contains(&t) {
                            0 // a tail call
                        } else {
                            ARITH
                        }
                    }
                    FlowControl::IndirectBranch => match cx.jump_tables.get(&ins.ip()) {
                        Some(ts) => ts.iter().fold(0, |m, &t| m | at(t)),
                        None => ARITH,
                    },
                    _ => ARITH,
                }
            }
        }
    }

    fn liveness(&mut self, cx: &Context<'_>) {
        for b in &mut self.blocks {
            b.live_in = 0;
            b.live_after = vec![0; b.insns.len()];
        }
        loop {
            let mut changed = false;
            for i in (0..self.blocks.len()).rev() {
                let mut live = self.live_out(&self.blocks[i], cx);
                let b = &mut self.blocks[i];
                for (k, ins) in b.insns.iter().enumerate().rev() {
                    b.live_after[k] = live;
                    live = step_back(ins, live);
                }
                if live != b.live_in {
                    b.live_in = live;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// Flags live before `ins` given those live after it.
pub fn step_back(ins: &Instruction, live_after: u32) -> u32 {
    match ins.flow_control() {
        // The ABI: nothing passes flags into a call or out of a return.
        FlowControl::Call | FlowControl::IndirectCall | FlowControl::Return
            if ins.mnemonic() != Mnemonic::Syscall =>
        {
            0
        }
        _ => (live_after & !ins.rflags_modified()) | ins.rflags_read(),
    }
}
