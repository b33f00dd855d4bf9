//! Signals of the one guest thread: dispositions, the blocked mask, pending signals, the
//! alternate stack, and delivery: a Linux-compatible `rt_sigframe` (return address, `ucontext`
//! with `sigcontext` and the signal mask, `siginfo`, and an FXSAVE-format FP area) built on the
//! guest stack so that handlers, `SA_SIGINFO` readers, `sigsetjmp`/`siglongjmp` and
//! `rt_sigreturn` all see what the kernel would give them.
//!
//! Frame layout (x86-64, `arch/x86/include/asm/sigframe.h`): at the handler's `rsp` the return
//! address (`sa_restorer`), then `ucontext` (304 bytes: flags, link, `stack_t`, 32 words of
//! `sigcontext`, the mask), then `siginfo` (128 bytes); the FP area (512 bytes, 64-aligned) sits
//! above. On entry `(rsp + 8) % 16 == 0`, as after a call.

use crate::abi::sig::*;
use crate::abi::{SigAction, SysResult};
use crate::cpu::reg;
use crate::mem::perm;
use crate::syscall::Ctx;

/// `stack_t` of `sigaltstack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    pub flags: u32,
}

/// Signal state.
#[derive(Clone, Debug)]
pub struct Signals {
    /// Dispositions, indexed by signal number - 1.
    pub actions: [SigAction; 64],
    pub mask: u64,
    pub pending: u64,
    pub altstack: AltStack,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            actions: [SigAction::default(); 64],
            mask: 0,
            pending: 0,
            altstack: AltStack {
                sp: 0,
                size: 0,
                flags: SS_DISABLE,
            },
        }
    }
}

/// The bit of `signal` in a mask.
pub fn bit(signal: u32) -> u64 {
    1u64 << (signal - 1)
}

/// Signals that can be neither caught nor blocked.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

impl Signals {
    /// Marks `signal` pending (delivered at the next syscall return).
    pub fn raise(&mut self, signal: u32) {
        if (1..=64).contains(&signal) {
            self.pending |= bit(signal);
        }
    }

    /// The lowest pending signal that is not blocked.
    pub fn next_deliverable(&self) -> Option<u32> {
        let ready = self.pending & !(self.mask & !UNBLOCKABLE);
        (ready != 0).then(|| ready.trailing_zeros() + 1)
    }

    /// Whether `rsp` is on the alternate stack.
    pub fn on_altstack(&self, rsp: u64) -> bool {
        self.altstack.flags & SS_DISABLE == 0
            && rsp > self.altstack.sp
            && rsp <= self.altstack.sp + self.altstack.size
    }
}

/// What the kernel tells a handler about a signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: u32,
    pub code: i32,
    /// Faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE), or the sender's pid in the low half.
    pub addr: u64,
    /// Hardware trap number and error code for the `sigcontext`.
    pub trapno: u64,
    pub err: u64,
}

/// What delivering a signal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A handler will run next.
    Handled,
    Ignored,
    /// The default action ends the process.
    Terminate(u32),
}

const UC_SIZE: u64 = 304;
const FRAME_SIZE: u64 = 8 + UC_SIZE + 128;
const FP_SIZE: u64 = 512;
/// RFLAGS bits `rt_sigreturn` restores (the kernel's FIX_EFLAGS).
const FIX_EFLAGS: u64 = 0x50dd5;
/// DF, TF and RF, cleared on handler entry.
const ENTRY_CLEAR: u64 = 0x400 | 0x100 | 0x10000;

/// `sigcontext` register order.
const MCTX_REGS: [usize; 16] = [
    reg::R8,
    reg::R9,
    reg::R10,
    reg::R11,
    reg::R12,
    reg::R13,
    reg::R14,
    reg::R15,
    reg::RDI,
    reg::RSI,
    reg::RBP,
    reg::RBX,
    reg::RDX,
    reg::RAX,
    reg::RCX,
    reg::RSP,
];

/// Delivers `info.signo`. A `forced` signal (a fault of the guest's own) that is blocked or
/// ignored takes its default action instead, as Linux's `force_sig` does.
pub fn deliver(ctx: &mut Ctx<'_>, info: SigInfo, forced: bool) -> Outcome {
    let signal = info.signo;
    let idx = (signal - 1) as usize;
    let mut act = ctx.proc.sig.actions[idx];
    if forced && (act.handler == SIG_IGN || ctx.proc.sig.mask & bit(signal) != 0) {
        act = SigAction::default();
        ctx.proc.sig.actions[idx] = act;
        ctx.proc.sig.mask &= !bit(signal);
    }
    match act.handler {
        SIG_IGN => return Outcome::Ignored,
        SIG_DFL if default_ignored(signal) || signal == SIGSTOP || signal == SIGTSTP => {
            return Outcome::Ignored;
        }
        SIG_DFL => return Outcome::Terminate(signal),
        _ => {}
    }
    if signal == SIGKILL {
        return Outcome::Terminate(signal);
    }
    match build_frame(ctx, &act, info) {
        Ok(()) => {
            let s = &mut ctx.proc.sig;
            s.mask |= act.mask & !UNBLOCKABLE;
            if act.flags & SA_NODEFER == 0 {
                s.mask |= bit(signal);
            }
            if act.flags & SA_RESETHAND != 0 {
                s.actions[idx] = SigAction::default();
            }
            Outcome::Handled
        }
        // The frame could not be written (stack overflow): SIGSEGV with the default action.
        Err(_) => Outcome::Terminate(SIGSEGV),
    }
}

fn build_frame(ctx: &mut Ctx<'_>, act: &SigAction, info: SigInfo) -> SysResult<()> {
    if act.flags & SA_RESTORER == 0 {
        return Err(crate::abi::EFAULT);
    }
    let cpu_rsp = ctx.cpu.gpr[reg::RSP];
    let alt = ctx.proc.sig.altstack;
    let mut sp = if act.flags & SA_ONSTACK != 0
        && alt.flags & SS_DISABLE == 0
        && !ctx.proc.sig.on_altstack(cpu_rsp)
    {
        alt.sp + alt.size
    } else {
        cpu_rsp.wrapping_sub(128) // the red zone
    };
    sp = (sp - FP_SIZE) & !63;
    let fp = sp;
    sp = ((sp - FRAME_SIZE + 8) & !15) - 8;
    let frame = sp;
    let (uc, si) = (frame + 8, frame + 8 + UC_SIZE);
    let m = &mut *ctx.mem;
    m.check(frame, fp + FP_SIZE - frame, perm::WRITE)?;
    m.slice_mut(frame, fp + FP_SIZE - frame)?.fill(0);
    m.write_u64(frame, act.restorer)?;
    // ucontext: flags, link, stack_t, sigcontext, mask.
    let onstack = if ctx.proc.sig.on_altstack(cpu_rsp) {
        SS_ONSTACK
    } else {
        alt.flags & SS_DISABLE
    };
    m.write_u64(uc + 16, alt.sp)?;
    m.write_u32(uc + 24, onstack)?;
    m.write_u64(uc + 32, alt.size)?;
    let mc = uc + 40;
    for (i, &r) in MCTX_REGS.iter().enumerate() {
        m.write_u64(mc + 8 * i as u64, ctx.cpu.gpr[r])?;
    }
    m.write_u64(mc + 8 * 16, ctx.cpu.rip)?;
    m.write_u64(mc + 8 * 17, (ctx.rflags)(ctx.cpu))?;
    m.write_u64(mc + 8 * 18, 0x33 | (0x2b << 48))?;
    m.write_u64(mc + 8 * 19, info.err)?;
    m.write_u64(mc + 8 * 20, info.trapno)?;
    m.write_u64(mc + 8 * 21, ctx.proc.sig.mask)?;
    m.write_u64(
        mc + 8 * 22,
        if info.signo == SIGSEGV || info.signo == SIGBUS {
            info.addr
        } else {
            0
        },
    )?;
    m.write_u64(mc + 8 * 23, fp)?;
    m.write_u64(uc + 296, ctx.proc.sig.mask)?;
    // siginfo.
    m.write_u32(si, info.signo)?;
    m.write_u32(si + 8, info.code as u32)?;
    m.write_u64(si + 16, info.addr)?;
    save_fp(ctx, fp)?;
    let c = &mut *ctx.cpu;
    c.gpr[reg::RDI] = u64::from(info.signo);
    c.gpr[reg::RSI] = si;
    c.gpr[reg::RDX] = uc;
    c.gpr[reg::RAX] = 0;
    c.gpr[reg::RSP] = frame;
    c.rip = act.handler;
    let flags = (ctx.rflags)(ctx.cpu) & !ENTRY_CLEAR;
    (ctx.set_rflags)(ctx.cpu, flags);
    Ok(())
}

/// Writes the FP state in FXSAVE format at `fp`.
fn save_fp(ctx: &mut Ctx<'_>, fp: u64) -> SysResult<()> {
    let x = ctx.cpu.x87;
    let m = &mut *ctx.mem;
    m.write_u16(fp, x.control)?;
    m.write_u16(fp + 2, (x.status & !0x3800) | (u16::from(x.top & 7) << 11))?;
    let abridged = (0..8)
        .filter(|i| (x.tag >> (2 * i)) & 3 != 3)
        .fold(0u8, |t, i| t | 1 << i);
    m.write_u8(fp + 4, abridged)?;
    m.write_u32(fp + 24, ctx.cpu.mxcsr)?;
    m.write_u32(fp + 28, 0xffff)?;
    for i in 0..8 {
        let r = x.regs[(usize::from(x.top) + i) & 7];
        m.write_u128(
            fp + 32 + 16 * i as u64,
            u128::from_le_bytes(r) & ((1 << 80) - 1),
        )?;
    }
    for i in 0..16 {
        m.write_u128(fp + 160 + 16 * i as u64, ctx.cpu.xmm[i])?;
    }
    Ok(())
}

fn restore_fp(ctx: &mut Ctx<'_>, fp: u64) -> SysResult<()> {
    let m = &*ctx.mem;
    let x = &mut ctx.cpu.x87;
    x.control = m.read_u16(fp)?;
    let status = m.read_u16(fp + 2)?;
    x.top = ((status >> 11) & 7) as u8;
    x.status = status;
    let abridged = m.read_u8(fp + 4)?;
    let mut tag = 0u16;
    for i in 0..8 {
        if abridged & (1 << i) == 0 {
            tag |= 3 << (2 * i);
        }
    }
    x.tag = tag;
    for i in 0..8 {
        let v = m.read_u128(fp + 32 + 16 * i as u64)?;
        x.regs[(usize::from(x.top) + i) & 7] = v.to_le_bytes();
    }
    ctx.cpu.mxcsr = m.read_u32(fp + 24)? & 0xffff;
    for i in 0..16 {
        ctx.cpu.xmm[i] = m.read_u128(fp + 160 + 16 * i as u64)?;
    }
    Ok(())
}

/// `rt_sigreturn`: restores the state saved in the frame whose `ucontext` is at `rsp`.
/// Returns the restored `rax`.
pub fn sigreturn(ctx: &mut Ctx<'_>) -> SysResult {
    let uc = ctx.cpu.gpr[reg::RSP];
    let mc = uc + 40;
    let m = &*ctx.mem;
    let mut regs = [0u64; 16];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = m.read_u64(mc + 8 * i as u64)?;
    }
    let rip = m.read_u64(mc + 8 * 16)?;
    let flags = m.read_u64(mc + 8 * 17)?;
    let fp = m.read_u64(mc + 8 * 23)?;
    let mask = m.read_u64(uc + 296)?;
    for (i, &r) in MCTX_REGS.iter().enumerate() {
        ctx.cpu.gpr[r] = regs[i];
    }
    ctx.cpu.rip = rip;
    let cur = (ctx.rflags)(ctx.cpu);
    (ctx.set_rflags)(ctx.cpu, (cur & !FIX_EFLAGS) | (flags & FIX_EFLAGS) | 2);
    if fp != 0 {
        restore_fp(ctx, fp)?;
    }
    ctx.proc.sig.mask = mask & !UNBLOCKABLE;
    Ok(ctx.cpu.gpr[reg::RAX])
}
