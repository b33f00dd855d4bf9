//! The guest CPU state: one `#[repr(C)]` struct shared by the interpreter, the syscall layer and
//! (later) lifted code, which reads and writes it at the offsets exported here.
//!
//! General-purpose registers are indexed in x86 encoding order (`RAX`=0 .. `R15`=15). Arithmetic
//! flags are kept lazily (see `interp::flags`): the last flag-setting operation and its operands
//! are recorded and flags are computed only when read.

/// Register indices in encoding order.
pub mod reg {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const RBX: usize = 3;
    pub const RSP: usize = 4;
    pub const RBP: usize = 5;
    pub const RSI: usize = 6;
    pub const RDI: usize = 7;
    pub const R8: usize = 8;
    pub const R9: usize = 9;
    pub const R10: usize = 10;
    pub const R11: usize = 11;
    pub const R12: usize = 12;
    pub const R13: usize = 13;
    pub const R14: usize = 14;
    pub const R15: usize = 15;
}

/// Lazily evaluated arithmetic flags: the kind of the last flag-setting operation, its operand
/// size and values, plus the flags that are not lazy (DF and the stored bits of others).
/// The interpreter owns the meaning of `op`; see `interp::flags`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LazyFlags {
    /// The operation that last set flags (an `interp::flags::FlagOp` as u32).
    pub op: u32,
    /// Operand size in bytes (1, 2, 4, 8).
    pub size: u32,
    pub result: u64,
    pub src1: u64,
    pub src2: u64,
    /// RFLAGS bits that are stored, not computed: DF, and all six arithmetic flags when `op` says
    /// the flags are materialised.
    pub stored: u64,
}

/// The x87 FPU: eight 80-bit registers as stack, with control, status and tag words.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X87 {
    /// Physical registers R0..R7, each an 80-bit extended value in the low 10 bytes.
    pub regs: [[u8; 16]; 8],
    pub control: u16,
    pub status: u16,
    /// Full tag word (2 bits per register).
    pub tag: u16,
    /// Stack top (0..=7), kept apart from `status` for speed.
    pub top: u8,
    pub _pad: u8,
    /// FIP: the address of the last non-control x87 instruction (fnstenv/fnsave/fxsave store
    /// it; the opcode and data pointer are not kept, as on hardware that stores them only on
    /// an unmasked exception).
    pub fip: u64,
}

/// The whole user-mode CPU state.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub flags: LazyFlags,
    pub fs_base: u64,
    pub gs_base: u64,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    pub _pad: u32,
    pub x87: X87,
    /// Instructions retired by lifted code (it adds its count at every exit), for
    /// `OCI2WASM_STATS`.
    pub lifted: u64,
    /// The lowest address of the main stack (0 if unknown): lifted code checks calls against
    /// it, so that runaway recursion faults on the guard page below as it does natively.
    pub stack_guard: u64,
}

impl Default for Cpu {
    /// The state at process start: zero registers, MXCSR and the x87 control word at their reset
    /// values (all exceptions masked, round to nearest, 64-bit precision).
    fn default() -> Self {
        Cpu {
            gpr: [0; 16],
            rip: 0,
            flags: LazyFlags::default(),
            fs_base: 0,
            gs_base: 0,
            xmm: [0; 16],
            mxcsr: 0x1f80,
            _pad: 0,
            x87: X87 {
                control: 0x037f,
                tag: 0xffff,
                ..X87::default()
            },
            lifted: 0,
            stack_guard: 0,
        }
    }
}

/// Byte offsets of the fields lifted code addresses.
pub mod offset {
    use super::Cpu;
    use core::mem::offset_of;

    pub const GPR: usize = offset_of!(Cpu, gpr);
    pub const RIP: usize = offset_of!(Cpu, rip);
    pub const FLAGS: usize = offset_of!(Cpu, flags);
    pub const FS_BASE: usize = offset_of!(Cpu, fs_base);
    pub const GS_BASE: usize = offset_of!(Cpu, gs_base);
    pub const XMM: usize = offset_of!(Cpu, xmm);
    pub const MXCSR: usize = offset_of!(Cpu, mxcsr);
    pub const X87: usize = offset_of!(Cpu, x87);
    pub const LIFTED: usize = offset_of!(Cpu, lifted);
    pub const STACK_GUARD: usize = offset_of!(Cpu, stack_guard);
    /// Fields of `flags` (a `LazyFlags`).
    pub const FLAGS_OP: usize = FLAGS + offset_of!(super::LazyFlags, op);
    pub const FLAGS_SIZE: usize = FLAGS + offset_of!(super::LazyFlags, size);
    pub const FLAGS_RESULT: usize = FLAGS + offset_of!(super::LazyFlags, result);
    pub const FLAGS_SRC1: usize = FLAGS + offset_of!(super::LazyFlags, src1);
    pub const FLAGS_SRC2: usize = FLAGS + offset_of!(super::LazyFlags, src2);
    pub const FLAGS_STORED: usize = FLAGS + offset_of!(super::LazyFlags, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_stable() {
        assert_eq!(offset::GPR, 0);
        assert_eq!(offset::RIP, 128);
        assert_eq!(offset::XMM % 16, 0, "xmm aligned for SIMD loads");
        assert_eq!(Cpu::default().mxcsr, 0x1f80);
    }
}
