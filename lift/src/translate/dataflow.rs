//! Register dataflow of one function, so that a call stores only the registers whose Wasm
//! locals differ from the CPU state.
//!
//! A register is *dirty* when its local was written since it was last stored to or loaded from
//! the CPU state. A call stores the dirty ones and reloads, so nothing is dirty after it; other
//! instructions make what they write dirty (a helper call stores more, which is harmless). Every
//! block is also an entry from the runtime (locals freshly loaded, nothing dirty), so a block's
//! dirty set is the union over its predecessors.

use super::cfg::{Cfg, Context};
use super::regs;
use iced_x86::{FlowControl, Instruction, Mnemonic};
use std::collections::{BTreeSet, HashMap};

/// What an instruction does to the dirty set, given the set before it.
pub fn dirty_step(ins: &Instruction, dirty: u16) -> u16 {
    if is_call(ins) {
        0
    } else {
        dirty | regs::of(ins).1
    }
}

fn is_call(ins: &Instruction) -> bool {
    ins.mnemonic() != Mnemonic::Syscall
        && matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall
        )
}

/// The dirty registers at the entry of each block.
pub fn dirty_in(cfg: &Cfg, cx: &Context<'_>) -> Vec<u16> {
    let n = cfg.blocks.len();
    let succs: Vec<Vec<usize>> = (0..n).map(|i| cfg.succs(i, cx)).collect();
    let mut dirty_in = vec![0u16; n];
    loop {
        let mut changed = false;
        for i in 0..n {
            let insns = &cfg.blocks[i].insns;
            let mut d = dirty_in[i];
            for ins in insns {
                d = dirty_step(ins, d);
            }
            for &s in &succs[i] {
                if dirty_in[s] | d != dirty_in[s] {
                    dirty_in[s] |= d;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    dirty_in
}

/// Registers each function may change in the CPU state before it returns to its caller: what
/// its own exits store (the registers it writes, and rsp), and what its direct callees and
/// tail-called functions change, to a fixpoint over the call graph; a function with an indirect
/// call or jump may change every register (its target is not known). Anything else that happens
/// during a call (an exit to the runtime, a stop) does not come back to the call site.
pub fn clobbers(cfgs: &[Cfg], functions: &BTreeSet<u64>) -> HashMap<u64, u16> {
    let mut own: HashMap<u64, u16> = HashMap::new();
    let mut callees: HashMap<u64, Vec<u64>> = HashMap::new();
    for c in cfgs {
        let mut m = 1u16 << 4;
        let mut calls = Vec::new();
        for b in &c.blocks {
            for ins in &b.insns {
                m |= regs::of(ins).1;
                let t = ins.near_branch_target();
                let direct = (ins.is_call_near() || ins.is_jmp_short_or_near())
                    && t != c.entry
                    && functions.contains(&t);
                if direct {
                    calls.push(t);
                }
                // Through the dispatch function, any lifted function may run and come back.
                if matches!(
                    ins.flow_control(),
                    FlowControl::IndirectCall | FlowControl::IndirectBranch
                ) {
                    m = u16::MAX;
                }
            }
        }
        own.insert(c.entry, m);
        callees.insert(c.entry, calls);
    }
    let mut out = own.clone();
    loop {
        let mut changed = false;
        for (f, calls) in &callees {
            let mut m = out[f];
            for t in calls {
                // A callee that was not lifted runs through the runtime: anything may change.
                m |= out.get(t).copied().unwrap_or(u16::MAX);
            }
            if m != out[f] {
                out.insert(*f, m);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    out
}
