//! Lifted calls at their limits: nesting past `MAX_DEPTH` and a return address pushed below the
//! stack guard both make the callee leave at its entry with the state untouched, so the runtime
//! (here the test dispatcher and the interpreter) carries on and the result is unchanged.

use iced_x86::code_asm::*;

use super::testing::{CODE, STACK_TOP, assemble, check_same, start_state};
use crate::link::MAX_DEPTH;

/// `rax = rdi + (rdi - 1) + ... + 1`, one call level per step, keeping the running `rdi` in the
/// callee-saved `rbx` (pushed and popped).
fn recursive_sum() -> Vec<u8> {
    assemble(&|a| {
        let mut f = a.create_label();
        let mut base = a.create_label();
        a.set_label(&mut f)?;
        a.test(rdi, rdi)?;
        a.jz(base)?;
        a.push(rbx)?;
        a.mov(rbx, rdi)?;
        a.dec(rdi)?;
        a.call(f)?;
        a.add(rax, rbx)?;
        a.pop(rbx)?;
        a.ret()?;
        a.set_label(&mut base)?;
        a.xor(eax, eax)?;
        a.ret()
    })
}

#[test]
fn nesting_within_the_limit_stays_in_one_lifted_call() {
    let n = (MAX_DEPTH - 10) as u64;
    let c = check_same(&recursive_sum(), &[CODE], &start_state(&[(7, n), (3, 7)]));
    assert_eq!((c.lifted_calls, c.interpreted), (1, 0), "{c:?}");
}

#[test]
fn nesting_past_the_limit_goes_back_through_the_runtime() {
    let n = 3 * MAX_DEPTH as u64 + 7;
    let c = check_same(&recursive_sum(), &[CODE], &start_state(&[(7, n), (3, 7)]));
    // Each time the limit is reached the whole Wasm stack unwinds and the runtime re-enters
    // the callee (at depth 0), so at least n / MAX_DEPTH lifted calls, none interpreted.
    assert!(c.lifted_calls >= 3, "{c:?}");
    assert_eq!(c.interpreted, 0, "{c:?}");
}

#[test]
fn a_call_below_the_stack_guard_leaves_for_the_interpreter() {
    let n = 100u64;
    let mut cpu = start_state(&[(7, n), (3, 7)]);
    // Each level pushes 16 bytes: the guard is reached about 40 levels down.
    cpu.stack_guard = STACK_TOP - 0x280;
    let c = check_same(&recursive_sum(), &[CODE], &cpu);
    // Below the guard every lifted call leaves at the callee's entry and the runtime enters it
    // again (where the interpreter would fault on the guard page): one round trip per level.
    assert!(c.lifted_calls >= 50, "{c:?}");
    // The same depth with the guard far below: all lifted.
    cpu.stack_guard = STACK_TOP - 0x10_0000 * 4;
    let c = check_same(&recursive_sum(), &[CODE], &cpu);
    assert_eq!((c.lifted_calls, c.interpreted), (1, 0), "{c:?}");
}
