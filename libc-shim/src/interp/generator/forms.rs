//! Instruction forms for the generator: every iced-x86 [`Code`] that is a legacy-encoded (or a
//! BMI1/BMI2 VEX-encoded) instruction valid in 64-bit mode, split into its register and memory
//! forms when it has an r/m operand (uops.info's convention), classified as runnable or skipped
//! with a reason.
//!
//! Skip categories: a CPUID feature the interpreter's cpuid does not claim; traps (int, ud);
//! far transfers; near branches with a 16-bit operand size (AMD behaviour; the interpreter and
//! iced decode as Intel, which ignores the prefix); privileged or system/segment state;
//! host-dependent results (cpuid, timestamps,
//! random numbers); an operand kind the harness cannot place (segment, control, far pointers).

use std::format;
use std::string::String;
use std::vec::Vec;

use iced_x86::{
    Code, CpuidFeature as F, EncodingKind, FlowControl, MemorySize, Mnemonic as M,
    OpCodeOperandKind as K,
};

/// Features the interpreter's cpuid (`system`) claims, plus base-architecture tags.
const CLAIMED: &[F] = &[
    F::INTEL8086,
    F::INTEL186,
    F::INTEL286,
    F::INTEL386,
    F::INTEL486,
    F::X64,
    F::CMOV,
    F::MMX,
    F::CX8,
    F::CMPXCHG16B,
    F::FPU,
    F::FPU287,
    F::FPU387,
    F::CLFSH,
    F::FXSR,
    F::SSE,
    F::SSE2,
    F::SSE3,
    F::SSSE3,
    F::SSE4_1,
    F::SSE4_2,
    F::MOVBE,
    F::POPCNT,
    F::LZCNT,
    F::BMI1,
    F::BMI2,
    F::ADX,
    F::PCLMULQDQ,
    F::AES,
    F::SHA,
    F::GFNI,
    F::PREFETCHW,
    F::CLFLUSHOPT,
    F::CLWB,
    F::CLDEMOTE,
    F::SERIALIZE,
    F::MULTIBYTENOP,
    F::PAUSE,
];

/// Which operand variant of a [`Code`] a form is. uops.info's convention: a `Code` with an r/m
/// operand is two instruction forms, its register form and its memory form.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    /// The `Code` has no r/m operand: one form.
    Only,
    /// The r/m operand is a register.
    Reg,
    /// The r/m operand is memory.
    Mem,
}

impl Variant {
    /// The table's name for the variant.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Only => "-",
            Variant::Reg => "reg",
            Variant::Mem => "mem",
        }
    }
}

/// A form and whether the generator runs it.
#[derive(Debug)]
pub struct Form {
    pub code: Code,
    pub variant: Variant,
    /// `Err(reason)` when skipped.
    pub run: Result<(), String>,
}

/// Whether `k` is an r/m operand (a register or a memory operand, chosen by ModRM.mod).
pub(super) fn is_rm(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem | K::xmm_or_mem | K::mm_or_mem
    )
}

/// Counts of codes left out of the table entirely.
#[derive(Debug, Default)]
pub struct Excluded {
    /// VEX (but the BMI1/BMI2 forms), EVEX, XOP, 3DNow! and MVEX encodings (AVX and later are
    /// not claimed).
    pub non_legacy: usize,
    /// Legacy forms not valid in 64-bit mode.
    pub not_64bit: usize,
}

/// The VEX-encoded general-purpose forms of BMI1 and BMI2 (the only VEX forms in the table:
/// AVX is not claimed).
fn is_bmi_vex(code: Code) -> bool {
    code.op_code().encoding() == EncodingKind::VEX
        && matches!(
            code.mnemonic(),
            M::Andn
                | M::Bextr
                | M::Blsi
                | M::Blsmsk
                | M::Blsr
                | M::Bzhi
                | M::Mulx
                | M::Pdep
                | M::Pext
                | M::Rorx
                | M::Sarx
                | M::Shlx
                | M::Shrx
        )
}

/// Operand kinds the generator can place.
pub(super) fn supported(k: K) -> bool {
    matches!(
        k,
        K::mem
            | K::mem_offs
            | K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::xmm_or_mem
            | K::mm_or_mem
            | K::mm_reg
            | K::mm_rm
            | K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_reg_mem
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_reg_mem
            | K::r32_rm
            | K::r32_opcode
            | K::r64_reg
            | K::r32_vvvv
            | K::r64_vvvv
            | K::r64_reg_mem
            | K::r64_rm
            | K::r64_opcode
            | K::xmm_reg
            | K::xmm_rm
            | K::al
            | K::cl
            | K::ax
            | K::dx
            | K::eax
            | K::rax
            | K::st0
            | K::sti_opcode
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
            | K::seg_rSI
            | K::es_rDI
            | K::seg_rDI
            | K::seg_rBX_al
            | K::br16_1
            | K::br16_2
            | K::br64_1
            | K::br64_4
    )
}

fn skip_mnemonic(m: M) -> Option<&'static str> {
    Some(match m {
        M::Cpuid | M::Rdtsc | M::Rdtscp | M::Rdpmc | M::Rdrand | M::Rdseed | M::Rdpid => {
            "host-dependent result"
        }
        M::In
        | M::Out
        | M::Insb
        | M::Insw
        | M::Insd
        | M::Outsb
        | M::Outsw
        | M::Outsd
        | M::Hlt
        | M::Cli
        | M::Sti
        | M::Lar
        | M::Lsl
        | M::Verr
        | M::Verw
        | M::Sgdt
        | M::Sidt
        | M::Sldt
        | M::Str
        | M::Smsw
        | M::Swapgs
        | M::Syscall
        | M::Sysenter
        | M::Sysexit
        | M::Sysret
        | M::Lss
        | M::Lfs
        | M::Lgs
        | M::Lds
        | M::Les => "privileged or system/segment state",
        _ => return None,
    })
}

fn classify(code: Code) -> Result<(), String> {
    let op = code.op_code();
    // endbr32/endbr64 are hint nops on every processor without CET enabled, as here.
    let nop = matches!(code.mnemonic(), M::Endbr32 | M::Endbr64);
    if let Some(f) = code
        .cpuid_features()
        .iter()
        .find(|f| !CLAIMED.contains(f) && !nop)
    {
        return Err(format!("cpuid {f:?} not claimed"));
    }
    if matches!(
        code.flow_control(),
        FlowControl::Interrupt | FlowControl::Exception | FlowControl::XbeginXabortXend
    ) {
        return Err("traps (int, ud)".into());
    }
    if code.flow_control() != FlowControl::Next && op.operand_size() == 16 {
        return Err("16-bit near branch (AMD only: Intel decoding ignores the 0x66 prefix)".into());
    }
    let far_ptr = matches!(
        op.memory_size(),
        MemorySize::SegPtr16 | MemorySize::SegPtr32 | MemorySize::SegPtr64
    );
    if matches!(code.mnemonic(), M::Retf | M::Iret | M::Iretd | M::Iretq)
        || (far_ptr && code.flow_control() != FlowControl::Next)
    {
        return Err("far transfer (segment state)".into());
    }
    if code.is_privileged() || !op.cpl3() {
        return Err("privileged".into());
    }
    if let Some(r) = skip_mnemonic(code.mnemonic()) {
        return Err(r.into());
    }
    if let Some(k) = op.op_kinds().iter().find(|&&k| !supported(k)) {
        return Err(format!("operand kind {k:?}"));
    }
    Ok(())
}

/// All legacy 64-bit-mode forms, classified, and the counts left out.
pub fn forms() -> (Vec<Form>, Excluded) {
    let mut v = Vec::new();
    let mut ex = Excluded::default();
    for code in Code::values() {
        let op = code.op_code();
        if !op.is_instruction() {
            continue;
        }
        if op.encoding() != EncodingKind::Legacy && !is_bmi_vex(code) {
            ex.non_legacy += 1;
            continue;
        }
        if !op.mode64() {
            ex.not_64bit += 1;
            continue;
        }
        let run = classify(code);
        if op.op_kinds().iter().any(|&k| is_rm(k)) {
            for variant in [Variant::Reg, Variant::Mem] {
                let run = run.clone();
                v.push(Form { code, variant, run });
            }
        } else {
            v.push(Form {
                code,
                variant: Variant::Only,
                run,
            });
        }
    }
    (v, ex)
}
