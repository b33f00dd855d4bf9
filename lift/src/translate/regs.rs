//! Which general registers an instruction reads and writes, from iced-x86's instruction info;
//! the lifter writes back and reloads exactly those around a helper call.

use iced_x86::{InstructionInfoFactory, OpAccess, Register};

use super::emit::gpr_index;

fn bit(r: Register) -> u16 {
    gpr_index(r).map_or(0, |i| 1 << i)
}

/// `(reads, writes)` as bit sets of register encoding indices (bit 4 = rsp).
pub fn of(ins: &iced_x86::Instruction) -> (u16, u16) {
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(ins);
    let (mut reads, mut writes) = (0u16, 0u16);
    for u in info.used_registers() {
        let b = bit(u.register());
        match u.access() {
            OpAccess::Read | OpAccess::CondRead => reads |= b,
            OpAccess::Write | OpAccess::CondWrite => writes |= b,
            OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
                reads |= b;
                writes |= b;
            }
            _ => {}
        }
    }
    for m in info.used_memory() {
        reads |= bit(m.base()) | bit(m.index());
    }
    // A partial write keeps the other bits: the interpreter merges into what it reads.
    reads |= writes;
    if ins.mnemonic() == iced_x86::Mnemonic::Syscall {
        // The kernel reads the arguments and writes rax; the stop path writes back everything.
        writes |= bit(Register::RAX) | bit(Register::RCX) | bit(Register::R11);
    }
    (reads, writes)
}
