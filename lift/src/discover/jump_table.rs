//! Recognising `switch` jump tables behind an indirect `jmp`.
//!
//! Descent keeps the last few instructions of the path that reached a `jmp` ([`History`], with
//! whether each conditional branch was taken on that path). From them [`analyze`] recognises:
//!
//! * absolute tables: `jmp [table + rI*8]`, or `mov rX, [table + rI*8]; jmp rX` (fixed-address
//!   code; in a PIE the entries are found through their relocations);
//! * relative tables: `lea rT, [rip+table]; movsxd rX, dword [rT + rI*4]; add rX, rT; jmp rX`
//!   (either operand order of the `add`, or `lea rX, [rT + rX]` for the `add`), entries being
//!   32-bit offsets from the table.
//!
//! The length comes from the bounds check on the index, `cmp rI, N` followed by `ja`/`jae` not
//! taken (or `jbe`/`jb` taken) — following register copies of the index — or `and rI, mask`.
//! Without a bound there is no table: the length is never guessed.

use iced_x86::{
    ConditionCode, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register,
};

use super::seeds::Relocations;
use crate::code::Code;

/// Instructions of history kept per path.
pub(super) const LEN: usize = 16;
/// Largest table accepted.
const MAX_ENTRIES: u64 = 1 << 14;

/// One instruction on the path, and for a conditional branch whether the path took it.
#[derive(Clone, Copy, Debug, Default)]
struct Step {
    instr: Instruction,
    taken: bool,
}

/// The last [`LEN`] instructions of a path, oldest overwritten first.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct History {
    steps: [Step; LEN],
    len: usize,
    next: usize,
}

impl History {
    /// Appends `instr` (not taken, if it is a branch).
    pub(super) fn push(&mut self, instr: Instruction) {
        self.steps[self.next] = Step {
            instr,
            taken: false,
        };
        self.next = (self.next + 1) % LEN;
        self.len = (self.len + 1).min(LEN);
    }

    /// Marks the newest instruction as a taken branch.
    pub(super) fn with_last_taken(mut self) -> History {
        if self.len > 0 {
            self.steps[(self.next + LEN - 1) % LEN].taken = true;
        }
        self
    }

    /// Newest first.
    fn newest_first(&self) -> Vec<Step> {
        (1..=self.len)
            .map(|i| self.steps[(self.next + LEN - i) % LEN])
            .collect()
    }
}

/// A recognised table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Table {
    /// Address of the first entry.
    pub start: u64,
    /// Bytes the entries occupy.
    pub size: u64,
    /// Entries that land in code, sorted, without repeats.
    pub targets: Vec<u64>,
}

/// How the entries are stored.
enum Form {
    Absolute { table: u64 },
    Relative { table: u64 },
}

/// Recognises the table behind `history`'s newest instruction, an indirect `jmp`.
pub(super) fn analyze(code: &Code<'_>, relocs: &Relocations, history: &History) -> Option<Table> {
    let steps = history.newest_first();
    let jmp = steps.first()?.instr;
    let mut info = InstructionInfoFactory::new();
    let (form, index, load_at) = match jmp.op0_kind() {
        OpKind::Memory => {
            let table = table_address(&steps, 0, &jmp, &mut info)?;
            (Form::Absolute { table }, jmp.memory_index(), 0)
        }
        OpKind::Register => {
            let x = jmp.op0_register().full_register();
            let (at, def) = def_before(&steps, 0, x, &mut info)?;
            match def.mnemonic() {
                Mnemonic::Mov if def.op1_kind() == OpKind::Memory => {
                    if def.memory_index_scale() != 8 {
                        return None;
                    }
                    let table = table_address(&steps, at, &def, &mut info)?;
                    (Form::Absolute { table }, def.memory_index(), at)
                }
                Mnemonic::Add if def.op1_kind() == OpKind::Register => {
                    let (a, b) = (def.op0_register(), def.op1_register());
                    relative(&steps, at, a, b, &mut info)?
                }
                Mnemonic::Lea
                    if def.memory_index_scale() == 1
                        && def.memory_displacement64() == 0
                        && def.memory_base() != Register::RIP =>
                {
                    let (a, b) = (def.memory_base(), def.memory_index());
                    relative(&steps, at, a, b, &mut info)?
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    if index == Register::None {
        return None;
    }
    let count = bound(&steps, load_at, index.full_register(), &mut info)?;
    let (start, entry_size) = match form {
        Form::Absolute { table } => (table, 8),
        Form::Relative { table } => (table, 4),
    };
    let mut targets = Vec::new();
    for i in 0..count {
        let at = start.checked_add(i * entry_size)?;
        let target = match form {
            Form::Absolute { .. } => relocs.word(code, at),
            Form::Relative { table } => code
                .read_u32(at)
                .map(|off| table.wrapping_add(off as i32 as i64 as u64)),
        };
        match target {
            Some(t) if code.is_code(t) => targets.push(t),
            Some(_) => {}
            None => return None,
        }
    }
    targets.sort_unstable();
    targets.dedup();
    if targets.is_empty() {
        return None;
    }
    Some(Table {
        start,
        size: count * entry_size,
        targets,
    })
}

/// `add rX, rY` (or `lea rZ, [rX + rY]`) at `at`: one of the two was loaded by `movsxd reg, dword [rT + rI*4]` with the
/// other (`rT`) set by `lea rT, [rip + table]`.
fn relative(
    steps: &[Step],
    at: usize,
    a: Register,
    b: Register,
    info: &mut InstructionInfoFactory,
) -> Option<(Form, Register, usize)> {
    let (a, b) = (a.full_register(), b.full_register());
    for (loaded, base) in [(a, b), (b, a)] {
        let Some((load_at, load)) = def_before(steps, at, loaded, info) else {
            continue;
        };
        if load.mnemonic() != Mnemonic::Movsxd
            || load.op1_kind() != OpKind::Memory
            || load.memory_base().full_register() != base
            || load.memory_index_scale() != 4
            || load.memory_displacement64() != 0
        {
            continue;
        }
        let Some((_, lea)) = def_before(steps, at, base, info) else {
            continue;
        };
        if lea.mnemonic() == Mnemonic::Lea && lea.memory_base() == Register::RIP {
            let table = lea.memory_displacement64();
            return Some((Form::Relative { table }, load.memory_index(), load_at));
        }
    }
    None
}

/// The table address of the memory operand of `instr` (at `at`) with an `*8` index: its
/// displacement, plus a base register set by `lea base, [rip + x]` or `mov base, imm`.
fn table_address(
    steps: &[Step],
    at: usize,
    instr: &Instruction,
    info: &mut InstructionInfoFactory,
) -> Option<u64> {
    if instr.memory_index_scale() != 8 || instr.memory_index() == Register::None {
        return None;
    }
    let disp = instr.memory_displacement64();
    match instr.memory_base() {
        Register::None => Some(disp),
        Register::RIP => None,
        base => {
            let (_, def) = def_before(steps, at, base.full_register(), info)?;
            let value = match def.mnemonic() {
                Mnemonic::Lea if def.memory_base() == Register::RIP => def.memory_displacement64(),
                Mnemonic::Mov if is_immediate(def.op1_kind()) => def.immediate(1),
                _ => return None,
            };
            Some(value.wrapping_add(disp))
        }
    }
}

/// How many entries the index `reg` (read by the instruction at `from`) can select, from the
/// bounds check older on the path.
fn bound(
    steps: &[Step],
    from: usize,
    reg: Register,
    info: &mut InstructionInfoFactory,
) -> Option<u64> {
    let mut tracked = reg;
    for i in from + 1..steps.len() {
        let step = steps[i];
        let instr = step.instr;
        if instr.flow_control() == iced_x86::FlowControl::ConditionalBranch {
            let cmp = steps.get(i + 1)?.instr;
            if cmp.mnemonic() == Mnemonic::Cmp
                && cmp.op0_kind() == OpKind::Register
                && cmp.op0_register().full_register() == tracked
                && is_immediate(cmp.op1_kind())
            {
                let n = cmp.immediate(1);
                let count = match (instr.condition_code(), step.taken) {
                    (ConditionCode::a, false) | (ConditionCode::be, true) => n.checked_add(1)?,
                    (ConditionCode::ae, false) | (ConditionCode::b, true) => n,
                    _ => return None,
                };
                return (count > 0 && count <= MAX_ENTRIES).then_some(count);
            }
            continue;
        }
        if !writes(&instr, tracked, info) {
            continue;
        }
        match instr.mnemonic() {
            Mnemonic::Mov | Mnemonic::Movzx | Mnemonic::Movsxd
                if instr.op1_kind() == OpKind::Register =>
            {
                tracked = instr.op1_register().full_register();
            }
            Mnemonic::And if is_immediate(instr.op1_kind()) => {
                let count = instr.immediate(1).checked_add(1)?;
                return (count <= MAX_ENTRIES).then_some(count);
            }
            _ => return None,
        }
    }
    None
}

/// The newest instruction older than `at` that writes the 64-bit register `reg`.
fn def_before(
    steps: &[Step],
    at: usize,
    reg: Register,
    info: &mut InstructionInfoFactory,
) -> Option<(usize, Instruction)> {
    (at + 1..steps.len())
        .find(|&i| writes(&steps[i].instr, reg, info))
        .map(|i| (i, steps[i].instr))
}

/// Whether `instr` writes (any part of) the 64-bit register `reg`.
fn writes(instr: &Instruction, reg: Register, info: &mut InstructionInfoFactory) -> bool {
    info.info(instr).used_registers().iter().any(|u| {
        u.register().full_register() == reg
            && matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::ReadWrite
                    | OpAccess::CondWrite
                    | OpAccess::ReadCondWrite
            )
    })
}

fn is_immediate(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}
