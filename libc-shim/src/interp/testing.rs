//! Differential test harness: runs an assembled snippet natively on the x86-64 host and in the
//! interpreter from the same register file and memory, and compares GPRs, RFLAGS (under a mask
//! for flags the manuals leave undefined), XMM registers, MXCSR and the data and stack pages.
//!
//! Native runs use a fixed 64 KiB region at [`REGION`] (so guest and native addresses agree):
//! a generated prologue loads the register file from a slot page and jumps to the snippet, which
//! ends with `jmp EPILOGUE`; the epilogue stores everything back and returns to Rust. In the
//! interpreter's copy of the region the epilogue is a `hlt`, which ends the run.
//!
//! Compiled for the crate's tests and, with the `generator` feature, as a host-only library for
//! the lifter's three-way runs of the instruction-test generator (`super::generator`).

use core::cell::RefCell;
use std::sync::{Mutex, OnceLock};
use std::vec::Vec;

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::flags::{ARITH, DF};
use super::{Exit, Interp, rflags, set_rflags};
use crate::cpu::Cpu;
use crate::mem::{GuestMem, perm};

pub const REGION: u64 = 0x0100_0000;
pub const REGION_LEN: u64 = 0x1_0000;
pub const SNIPPET: u64 = REGION + 0x400;
pub const EPILOGUE: u64 = REGION + 0x2000;
const SLOTS: u64 = REGION + 0x3000;
/// Start of the 16 KiB data area snippets may read and write.
pub const DATA: u64 = REGION + 0x4000;
/// Initial rsp; the stack is the 32 KiB below.
pub const STACK_TOP: u64 = REGION + 0xff00;
/// Start and length of the memory compared ([`State::mem`]): the data area and the stack.
pub const MEM_START: u64 = DATA;
pub const MEM_LEN: u64 = REGION_LEN - 0x4000;

const IN_GPR: u64 = SLOTS;
const IN_FLAGS: u64 = SLOTS + 128;
const IN_MXCSR: u64 = SLOTS + 136;
const HOST_RSP: u64 = SLOTS + 144;
const HOST_MXCSR: u64 = SLOTS + 152;
const OUT_GPR: u64 = SLOTS + 256;
const OUT_FLAGS: u64 = SLOTS + 384;
const OUT_MXCSR: u64 = SLOTS + 392;
const IN_XMM: u64 = SLOTS + 512;
const OUT_XMM: u64 = SLOTS + 768;
const SCRATCH_TOP: u64 = SLOTS + 0xff0;

/// Flags compared by default: the arithmetic ones and DF.
pub const FLAGS: u64 = ARITH | DF;

/// Architectural state before or after a snippet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    /// The data area and stack, `MEM_LEN` bytes from `DATA`.
    pub mem: Vec<u8>,
}

impl Default for State {
    /// Distinct register values, rsp at [`STACK_TOP`], rbp/rsi/rdi pointing into the data area,
    /// and a byte pattern in memory.
    fn default() -> Self {
        let mut gpr = [0u64; 16];
        for (i, g) in gpr.iter_mut().enumerate() {
            *g = 0x0101_0101_0101_0101u64.wrapping_mul(i as u64 + 1) ^ 0x8040_2010_0804_0201;
        }
        gpr[4] = STACK_TOP;
        gpr[5] = DATA + 0x1000;
        gpr[6] = DATA + 0x100;
        gpr[7] = DATA + 0x800;
        let mut xmm = [0u128; 16];
        for (i, x) in xmm.iter_mut().enumerate() {
            *x = 0x0f1e_2d3c_4b5a_6978_8796_a5b4_c3d2_e1f0u128.rotate_left(i as u32 * 8);
        }
        static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
        let mem = PATTERN
            .get_or_init(|| (0..MEM_LEN).map(|i| (i * 37 + 11) as u8).collect())
            .clone();
        State {
            gpr,
            rflags: 0x202,
            xmm,
            mxcsr: 0x1f80,
            mem,
        }
    }
}

pub type Build<'a> = &'a dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// Assembles `build` at [`SNIPPET`] followed by `jmp EPILOGUE`.
pub fn assemble(build: Build) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a).unwrap();
    a.jmp(EPILOGUE).unwrap();
    a.assemble(SNIPPET).unwrap()
}

fn gprs() -> [AsmRegister64; 16] {
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ]
}

fn xmms() -> [AsmRegisterXmm; 16] {
    [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15,
    ]
}

fn prologue() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r)?;
    }
    a.mov(qword_ptr(HOST_RSP), rsp)?;
    a.fninit()?;
    a.stmxcsr(dword_ptr(HOST_MXCSR))?;
    a.ldmxcsr(dword_ptr(IN_MXCSR))?;
    for (i, x) in xmms().into_iter().enumerate() {
        a.movdqu(x, xmmword_ptr(IN_XMM + 16 * i as u64))?;
    }
    a.push(qword_ptr(IN_FLAGS))?;
    a.popfq()?;
    for (i, r) in gprs().into_iter().enumerate() {
        if i != 4 {
            a.mov(r, qword_ptr(IN_GPR + 8 * i as u64))?;
        }
    }
    a.mov(rsp, qword_ptr(IN_GPR + 32))?;
    a.jmp(SNIPPET)?;
    a.assemble(REGION)
}

fn epilogue() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    for (i, r) in gprs().into_iter().enumerate() {
        a.mov(qword_ptr(OUT_GPR + 8 * i as u64), r)?;
    }
    a.mov(rsp, SCRATCH_TOP)?;
    a.pushfq()?;
    a.pop(qword_ptr(OUT_FLAGS))?;
    for (i, x) in xmms().into_iter().enumerate() {
        a.movdqu(xmmword_ptr(OUT_XMM + 16 * i as u64), x)?;
    }
    a.stmxcsr(dword_ptr(OUT_MXCSR))?;
    a.ldmxcsr(dword_ptr(HOST_MXCSR))?;
    a.fninit()?;
    a.cld()?;
    a.mov(rsp, qword_ptr(HOST_RSP))?;
    for r in [r15, r14, r13, r12, rbp, rbx] {
        a.pop(r)?;
    }
    a.ret()?;
    a.assemble(EPILOGUE)
}

/// The native region, mapped once; the mutex serialises native runs across test threads.
static NATIVE: Mutex<bool> = Mutex::new(false);

fn at(addr: u64) -> *mut u8 {
    addr as *mut u8
}

/// Runs the snippet natively. A test harness, not a safe interface: the snippet must only touch
/// the region (the generator's and the difftests' snippets do by construction).
pub fn run_native(code: &[u8], input: &State) -> State {
    let mut mapped = NATIVE.lock().unwrap_or_else(|e| e.into_inner());
    if !*mapped {
        // SAFETY: a fresh anonymous mapping at a fixed low address that MAP_FIXED_NOREPLACE
        // refuses to place over anything already mapped.
        let p = unsafe {
            libc::mmap(
                at(REGION).cast(),
                REGION_LEN as usize,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        assert_eq!(p as u64, REGION, "cannot map the native test region");
        let pro = prologue().unwrap();
        let epi = epilogue().unwrap();
        // SAFETY: the region is ours (mapped above, only touched under the mutex).
        unsafe {
            core::ptr::copy_nonoverlapping(pro.as_ptr(), at(REGION), pro.len());
            core::ptr::copy_nonoverlapping(epi.as_ptr(), at(EPILOGUE), epi.len());
        }
        *mapped = true;
    }
    assert!(code.len() as u64 <= EPILOGUE - SNIPPET);
    // SAFETY: all writes are inside the region mapped above; the prologue saves and restores
    // the callee-saved registers, rsp and MXCSR, clears DF, and returns normally, so calling it
    // as an `extern "C" fn()` is sound as long as the snippet itself only touches the region
    // (which the tests guarantee by construction).
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), at(SNIPPET), code.len());
        core::ptr::copy_nonoverlapping(input.mem.as_ptr(), at(MEM_START), MEM_LEN as usize);
        let slot = |a: u64| a as *mut u64;
        for (i, &g) in input.gpr.iter().enumerate() {
            *slot(IN_GPR + 8 * i as u64) = g;
        }
        *slot(IN_FLAGS) = input.rflags;
        *(IN_MXCSR as *mut u32) = input.mxcsr;
        for (i, &x) in input.xmm.iter().enumerate() {
            ((IN_XMM + 16 * i as u64) as *mut u128).write_unaligned(x);
        }
        let f: extern "C" fn() = core::mem::transmute(REGION as usize);
        f();
        let mut out = input.clone();
        for (i, g) in out.gpr.iter_mut().enumerate() {
            *g = *slot(OUT_GPR + 8 * i as u64);
        }
        out.rflags = *slot(OUT_FLAGS);
        out.mxcsr = *(OUT_MXCSR as *const u32);
        for (i, x) in out.xmm.iter_mut().enumerate() {
            *x = ((OUT_XMM + 16 * i as u64) as *const u128).read_unaligned();
        }
        out.mem
            .copy_from_slice(core::slice::from_raw_parts(at(MEM_START), MEM_LEN as usize));
        out
    }
}

/// Runs the snippet in the interpreter; returns the state and how the run ended.
pub fn run_interp(code: &[u8], input: &State) -> (State, Exit) {
    std::thread_local! {
        static MACHINE: RefCell<(HostMem, Interp)> =
            RefCell::new((HostMem::new(REGION + REGION_LEN), Interp::new()));
    }
    MACHINE.with_borrow_mut(|(h, interp)| run_on(&mut h.mem, interp, code, input))
}

/// Guest memory backed by a host allocation.
struct HostMem {
    _backing: Vec<u8>,
    mem: GuestMem,
}

impl HostMem {
    /// `len` bytes of guest memory, all unmapped.
    fn new(len: u64) -> HostMem {
        let mut backing = std::vec![0u8; len as usize];
        // SAFETY: the Vec lives as long as the GuestMem (same struct) and is never touched
        // directly.
        let mem = unsafe { GuestMem::new(backing.as_mut_ptr(), len) };
        HostMem {
            _backing: backing,
            mem,
        }
    }
}

fn run_on(m: &mut GuestMem, interp: &mut Interp, code: &[u8], input: &State) -> (State, Exit) {
    m.protect(REGION, 0x3000, perm::RWX).unwrap();
    m.protect(MEM_START, MEM_LEN, perm::RW).unwrap();
    m.slice_mut(SNIPPET, code.len() as u64)
        .unwrap()
        .copy_from_slice(code);
    m.write_u8(EPILOGUE, 0xf4).unwrap();
    m.slice_mut(MEM_START, MEM_LEN)
        .unwrap()
        .copy_from_slice(&input.mem);
    let mut cpu = Cpu {
        gpr: input.gpr,
        rip: SNIPPET,
        xmm: input.xmm,
        mxcsr: input.mxcsr,
        ..Cpu::default()
    };
    set_rflags(&mut cpu, input.rflags);
    let exit = interp.run(&mut cpu, m, 1_000_000);
    // Halting anywhere but at the epilogue is reported as a fault of the snippet itself.
    let exit = if exit == Exit::Halt && cpu.rip != EPILOGUE {
        Exit::Fault {
            signal: 11,
            addr: cpu.rip,
            write: false,
        }
    } else {
        exit
    };
    let mut out = input.clone();
    out.gpr = cpu.gpr;
    out.rflags = rflags(&cpu);
    out.xmm = cpu.xmm;
    out.mxcsr = cpu.mxcsr;
    out.mem
        .copy_from_slice(m.slice(MEM_START, MEM_LEN, perm::READ).unwrap());
    (out, exit)
}

/// Runs `code` (from [`assemble`]) natively and interpreted from `input` and panics with a
/// description of every difference (RFLAGS compared under `flag_mask`; MXCSR without its
/// exception flags).
pub fn check_code(name: &str, code: &[u8], input: &State, flag_mask: u64) {
    check_code_mxcsr(name, code, input, flag_mask, !0x3f);
}

/// [`check_code`] comparing the MXCSR bits in `mxcsr_mask` (all of them for code whose
/// exception flags are emulated).
pub fn check_code_mxcsr(name: &str, code: &[u8], input: &State, flag_mask: u64, mxcsr_mask: u32) {
    let native = run_native(code, input);
    let (interp, exit) = run_interp(code, input);
    let mut diffs = Vec::new();
    if exit != Exit::Halt {
        diffs.push(std::format!("interpreter stopped with {exit:?}"));
    }
    for i in 0..16 {
        if native.gpr[i] != interp.gpr[i] {
            diffs.push(std::format!(
                "gpr{i}: native {:#x} interp {:#x}",
                native.gpr[i],
                interp.gpr[i]
            ));
        }
        if native.xmm[i] != interp.xmm[i] {
            diffs.push(std::format!(
                "xmm{i}: native {:#034x} interp {:#034x}",
                native.xmm[i],
                interp.xmm[i]
            ));
        }
    }
    if (native.rflags ^ interp.rflags) & flag_mask != 0 {
        diffs.push(std::format!(
            "rflags: native {:#x} interp {:#x} (mask {flag_mask:#x})",
            native.rflags & flag_mask,
            interp.rflags & flag_mask
        ));
    }
    if (native.mxcsr ^ interp.mxcsr) & mxcsr_mask != 0 {
        diffs.push(std::format!(
            "mxcsr: native {:#x} interp {:#x}",
            native.mxcsr,
            interp.mxcsr
        ));
    }
    if native.mem != interp.mem
        && let Some(i) = (0..native.mem.len()).find(|&i| native.mem[i] != interp.mem[i])
    {
        diffs.push(std::format!(
            "memory at {:#x}: native {:#x} interp {:#x}",
            MEM_START + i as u64,
            native.mem[i],
            interp.mem[i]
        ));
    }
    if !diffs.is_empty() {
        panic!(
            "{name}: input gpr {:x?} rflags {:#x} mxcsr {:#x} xmm0 {:#034x} xmm1 {:#034x}\n{}",
            input.gpr,
            input.rflags,
            input.mxcsr,
            input.xmm[0],
            input.xmm[1],
            diffs.join("\n")
        );
    }
}

/// Edge values for integer operands.
pub const EDGES: [u64; 17] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    0x1234_5678_9abc_def0,
    0xfedc_ba98_7654_3210,
];

/// A state with `rax = a`, `rbx = b`, `rcx = cnt` and the given input flags.
pub fn with(a: u64, b: u64, cnt: u64, flags: u64) -> State {
    let mut s = State::default();
    s.gpr[0] = a;
    s.gpr[3] = b;
    s.gpr[1] = cnt;
    s.rflags = flags | 0x202;
    s
}
