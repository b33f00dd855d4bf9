//! Recursive descent over x86-64 code with iced-x86.
//!
//! A [`Walker`] keeps one state byte per code byte (unknown, instruction start, inside an
//! instruction), so every byte is decoded at most once however many paths reach it, and a path
//! that would decode across a known instruction (overlapping code, or data) stops there.
//!
//! Paths follow fall-through, direct jumps and conditional branches (both ways) and recognised
//! jump tables; a direct `call` makes its target a function. The fall-through after a `call` is
//! walked last, after every other path: the callee may not return, and what follows it may be
//! padding or another function, which should be decoded from its real start first.

use std::collections::BTreeMap;

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register};

use super::jump_table::{self, History};
use super::seeds::{Regions, Relocations};
use super::{Confidence, Discovery, Source};
use crate::code::Code;

/// What descent knows about one code byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Not decoded.
    Unknown,
    /// The first byte of a decoded instruction.
    Start,
    /// A later byte of a decoded instruction.
    Interior,
}

const UNKNOWN: u8 = 0;
const START: u8 = 1;
const INTERIOR: u8 = 2;

/// A path to walk: where, in which function, and the instructions that led there.
#[derive(Clone, Copy, Debug)]
struct Item {
    addr: u64,
    function: u64,
    history: History,
}

/// Recursive descent over one file's code, resumable with more roots.
#[derive(Debug)]
pub(super) struct Walker<'a> {
    code: &'a Code<'a>,
    relocs: &'a Relocations,
    regions: &'a Regions,
    /// Per executable segment: its start and one state byte per file byte.
    states: Vec<(u64, Vec<u8>)>,
    /// Recognised jump tables: start -> end.
    tables: BTreeMap<u64, u64>,
    /// Code addresses loaded by instructions (`mov reg, imm`, `lea reg, [rip + x]`, `push imm`),
    /// with the confidence of the path that loaded them; taken by [`Walker::take_code_refs`].
    code_refs: Vec<(u64, Confidence)>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(code: &'a Code<'a>, relocs: &'a Relocations, regions: &'a Regions) -> Self {
        let states = code
            .ranges()
            .into_iter()
            .map(|(start, end)| (start, vec![UNKNOWN; (end - start) as usize]))
            .collect();
        Walker {
            code,
            relocs,
            regions,
            states,
            tables: BTreeMap::new(),
            code_refs: Vec::new(),
        }
    }

    /// The state of the code byte at `addr`; `None` outside code.
    pub(super) fn state(&self, addr: u64) -> Option<State> {
        let (start, bytes) = self
            .states
            .iter()
            .find(|(s, b)| addr >= *s && addr - s < b.len() as u64)?;
        Some(match bytes[(addr - start) as usize] {
            START => State::Start,
            INTERIOR => State::Interior,
            _ => State::Unknown,
        })
    }

    /// Maximal runs `[start, end)` of code bytes not decoded yet.
    pub(super) fn unknown_runs(&self) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        for (base, bytes) in &self.states {
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] != UNKNOWN {
                    i += 1;
                    continue;
                }
                let len = bytes[i..].iter().take_while(|&&b| b == UNKNOWN).count();
                runs.push((base + i as u64, base + (i + len) as u64));
                i += len;
            }
        }
        runs
    }

    /// Whether `addr` is inside a recognised jump table.
    pub(super) fn in_table(&self, addr: u64) -> bool {
        self.tables
            .range(..=addr)
            .next_back()
            .is_some_and(|(_, &end)| addr < end)
    }

    /// The code addresses instructions loaded since the last call, sorted, without repeats.
    pub(super) fn take_code_refs(&mut self) -> Vec<(u64, Confidence)> {
        let mut refs = std::mem::take(&mut self.code_refs);
        refs.sort_unstable();
        refs.dedup_by_key(|r| r.0);
        refs
    }

    /// Marks `len` bytes at `addr` as one instruction, unless any of them is already decoded.
    fn claim(&mut self, addr: u64, len: usize) -> bool {
        let Some((start, bytes)) = self
            .states
            .iter_mut()
            .find(|(s, b)| addr >= *s && addr - *s < b.len() as u64)
        else {
            return false;
        };
        let lo = (addr - *start) as usize;
        let Some(span) = bytes.get_mut(lo..lo + len) else {
            return false;
        };
        if span.iter().any(|&b| b != UNKNOWN) {
            return false;
        }
        span[0] = START;
        span[1..].fill(INTERIOR);
        true
    }

    /// Walks every path from `roots` (functions of `confidence`), recording into `found`.
    pub(super) fn run(&mut self, roots: &[u64], confidence: Confidence, found: &mut Discovery) {
        let mut paths: Vec<Item> = roots
            .iter()
            .rev()
            .map(|&addr| Item {
                addr,
                function: addr,
                history: History::default(),
            })
            .collect();
        let mut after_calls: Vec<(u64, u64)> = Vec::new();
        loop {
            let item = match paths.pop() {
                Some(item) => item,
                None => match after_calls.pop() {
                    Some((addr, function)) => Item {
                        addr,
                        function,
                        history: History::default(),
                    },
                    None => break,
                },
            };
            self.walk(item, confidence, found, &mut paths, &mut after_calls);
        }
    }

    /// Decodes one linear run from `item` until it ends or merges into decoded code.
    fn walk(
        &mut self,
        item: Item,
        confidence: Confidence,
        found: &mut Discovery,
        paths: &mut Vec<Item>,
        after_calls: &mut Vec<(u64, u64)>,
    ) {
        let Some(bytes) = self.code.bytes_at(item.addr) else {
            return;
        };
        let function = item.function;
        let mut history = item.history;
        let mut decoder = Decoder::with_ip(64, bytes, item.addr, DecoderOptions::NONE);
        let mut instr = Instruction::default();
        while decoder.can_decode() {
            decoder.decode_out(&mut instr);
            if instr.is_invalid() {
                return;
            }
            if !self.claim(instr.ip(), instr.len()) {
                self.revisit(instr, history, function, found, paths);
                return;
            }
            found.instructions += 1;
            history.push(instr);
            if let Some(value) = loaded_address(&instr)
                && self.code.is_code(value)
            {
                self.code_refs.push((value, confidence));
            }
            let next = instr.next_ip();
            match instr.flow_control() {
                FlowControl::Next | FlowControl::XbeginXabortXend => {
                    if instr.mnemonic() == Mnemonic::Hlt {
                        return;
                    }
                }
                FlowControl::Interrupt => {
                    if instr.mnemonic() == Mnemonic::Int3 {
                        return;
                    }
                }
                FlowControl::Return | FlowControl::Exception => return,
                FlowControl::ConditionalBranch => {
                    let target = instr.near_branch_target();
                    if self.code.is_code(target) {
                        found.branch_targets.insert(target);
                        paths.push(Item {
                            addr: target,
                            function,
                            history: history.with_last_taken(),
                        });
                    }
                    found.branch_targets.insert(next);
                }
                FlowControl::UnconditionalBranch => {
                    if is_near(&instr) {
                        self.jump(
                            instr.near_branch_target(),
                            function,
                            history,
                            confidence,
                            found,
                            paths,
                        );
                    }
                    return;
                }
                FlowControl::IndirectBranch => {
                    self.indirect(&instr, function, &history, found, paths);
                    return;
                }
                FlowControl::Call => {
                    let target = instr.near_branch_target();
                    if is_near(&instr)
                        && self.code.is_code(target)
                        && found.add_function(target, Source::CallTarget, confidence)
                    {
                        paths.push(Item {
                            addr: target,
                            function: target,
                            history: History::default(),
                        });
                    }
                    after_calls.push((next, function));
                    return;
                }
                FlowControl::IndirectCall => history = History::default(),
            }
        }
    }

    /// A direct `jmp` from `function` to `target`: a tail call if `target` is a known function
    /// or lies outside `function`'s `.eh_frame` region and inside no other region; otherwise a
    /// path within the function.
    fn jump(
        &mut self,
        target: u64,
        function: u64,
        history: History,
        confidence: Confidence,
        found: &mut Discovery,
        paths: &mut Vec<Item>,
    ) {
        if !self.code.is_code(target) {
            return;
        }
        found.branch_targets.insert(target);
        if target != function && found.functions.contains_key(&target) {
            found.add_function(target, Source::TailJump, confidence);
            return;
        }
        if self.leaves_region(function, target, found) {
            found.add_function(target, Source::TailJump, confidence);
            paths.push(Item {
                addr: target,
                function: target,
                history: History::default(),
            });
            return;
        }
        paths.push(Item {
            addr: target,
            function,
            history,
        });
    }

    /// Whether `target` is outside `function`'s region — its FDE's range, or without one up to
    /// the next known function start — and not inside another FDE's range.
    fn leaves_region(&self, function: u64, target: u64, found: &Discovery) -> bool {
        let end = match self.regions.get(&function) {
            Some(&end) => end,
            None => match found.functions.range(function + 1..).next() {
                Some((&next, _)) => next,
                None => return false,
            },
        };
        if target >= function && target < end {
            return false;
        }
        match self.regions.range(..=target).next_back() {
            Some((&start, &end)) => start == target || target >= end,
            None => true,
        }
    }

    /// A path that merged into decoded code at `first`: if a few instructions on (falling
    /// through not-taken branches) an indirect `jmp` was left unresolved, this path's history
    /// may show its table (the path that decoded it first may have come from elsewhere, e.g. a
    /// loop's back edge found through a guessed root before the loop's preheader).
    fn revisit(
        &mut self,
        first: Instruction,
        mut history: History,
        function: u64,
        found: &mut Discovery,
        paths: &mut Vec<Item>,
    ) {
        let mut instr = first;
        for _ in 0..jump_table::LEN {
            history.push(instr);
            match instr.flow_control() {
                FlowControl::Next | FlowControl::ConditionalBranch => {}
                FlowControl::IndirectBranch => {
                    if found.unresolved_jumps.remove(&instr.ip()) {
                        self.indirect(&instr, function, &history, found, paths);
                    }
                    return;
                }
                _ => return,
            }
            let Some(bytes) = self.code.bytes_at(instr.next_ip()) else {
                return;
            };
            instr = Decoder::with_ip(64, bytes, instr.next_ip(), DecoderOptions::NONE).decode();
            if instr.is_invalid() {
                return;
            }
        }
    }

    /// An indirect `jmp`: a jump table if recognised, else left unresolved.
    fn indirect(
        &mut self,
        instr: &Instruction,
        function: u64,
        history: &History,
        found: &mut Discovery,
        paths: &mut Vec<Item>,
    ) {
        let Some(table) = jump_table::analyze(self.code, self.relocs, history) else {
            found.unresolved_jumps.insert(instr.ip());
            return;
        };
        self.tables
            .insert(table.start, table.start.saturating_add(table.size));
        for &target in &table.targets {
            found.branch_targets.insert(target);
            paths.push(Item {
                addr: target,
                function,
                history: History::default(),
            });
        }
        found.jump_tables.insert(instr.ip(), table.targets);
    }
}

/// Whether a branch's operand is a near (not far) target.
fn is_near(instr: &Instruction) -> bool {
    matches!(
        instr.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

/// The address `mov reg, imm`, `push imm` or `lea reg, [rip + x]` puts in a register or on the
/// stack, if `instr` is one of those.
fn loaded_address(instr: &Instruction) -> Option<u64> {
    match instr.mnemonic() {
        Mnemonic::Lea if instr.memory_base() == Register::RIP => {
            Some(instr.memory_displacement64())
        }
        Mnemonic::Mov if instr.op0_kind() == OpKind::Register => match instr.op1_kind() {
            OpKind::Immediate32to64 | OpKind::Immediate64 => Some(instr.immediate(1)),
            OpKind::Immediate32 => Some(instr.immediate(1) & 0xffff_ffff),
            _ => None,
        },
        Mnemonic::Push => match instr.op0_kind() {
            OpKind::Immediate32to64 => Some(instr.immediate(0)),
            _ => None,
        },
        _ => None,
    }
}
