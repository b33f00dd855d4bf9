//! Control-flow forms (jcc, jmp, call, ret, loop*, jrcxz/jecxz) in a fixed layout, so that
//! where execution went is part of the compared state:
//!
//! ```text
//! SNIPPET        setup (ret: push the target)
//!                the form                       relative targets encoded for this address
//!                mov byte [rdi+0x3f0], 1 ; jmp EPILOGUE     (fell through)
//!                int3 ... (any stray jump faults)
//! SNIPPET+0x60   mov byte [rdi+0x3f0], 2 ; jmp EPILOGUE     (the target)
//! ```
//!
//! A call's pushed return address lands on the compared stack; an indirect call or jmp reads
//! the target from its register or memory operand (set by [`fix_state`]); loop and jrcxz see
//! rcx (or only ecx) of 0 or 1 in two cases of three, so both outcomes occur.

use std::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::{Code, FlowControl, Mnemonic as M};

use super::super::testing::{EPILOGUE, SNIPPET, State};
use super::cases::{MEM_OFF, Op, encode};

/// The branch target: the second landing pad.
pub const TARGET: u64 = SNIPPET + 0x60;

/// Whether `code` is a control-flow form this layout runs.
pub(super) fn is_branch(code: Code) -> bool {
    code.flow_control() != FlowControl::Next
}

fn pad(a: &mut CodeAssembler, marker: u32) -> Result<(), IcedError> {
    a.mov(byte_ptr(rdi + 0x3f0), marker)?;
    a.jmp(EPILOGUE)
}

fn piece(ip: u64, f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

/// The snippet for one case and the address of the form in it; `None` when the form does not
/// encode as itself.
pub(super) fn snippet(code: Code, ops: &[Op]) -> Option<(Vec<u8>, u64)> {
    let setup = piece(SNIPPET, |a| {
        if code.mnemonic() == M::Ret {
            a.push(TARGET as i32)?;
        }
        Ok(())
    });
    let at = SNIPPET + setup.len() as u64;
    let form = encode(code, ops, at)?;
    let mut v = setup;
    v.extend_from_slice(&form);
    v.extend(piece(SNIPPET + v.len() as u64, |a| pad(a, 1)));
    assert!(
        SNIPPET + (v.len() as u64) <= TARGET,
        "branch snippet too long"
    );
    v.resize((TARGET - SNIPPET) as usize, 0xcc);
    v.extend(piece(TARGET, |a| pad(a, 2)));
    Some((v, at))
}

/// Points an indirect call's or jmp's operand at the target; gives loop and jrcxz a count of 0
/// or 1 in two cases of three.
pub(super) fn fix_state(code: Code, ops: &[Op], k: usize, s: &mut State) {
    match (code.mnemonic(), ops.first()) {
        (M::Call | M::Jmp, Some(Op::Reg(r))) => s.gpr[r.full_register().number()] = TARGET,
        (M::Call | M::Jmp, Some(Op::Mem)) => {
            s.mem[MEM_OFF..MEM_OFF + 8].copy_from_slice(&TARGET.to_le_bytes())
        }
        // rcx of 0 or 1, then ecx of 0 or 1 under non-zero upper bits.
        (M::Loop | M::Loope | M::Loopne | M::Jrcxz | M::Jecxz, _) if k % 3 != 2 => {
            let upper = if k % 3 == 1 { s.gpr[1] | 1 << 32 } else { 0 };
            s.gpr[1] = (upper & !0xffff_ffff) | (k / 3 % 2) as u64;
        }
        _ => {}
    }
}
