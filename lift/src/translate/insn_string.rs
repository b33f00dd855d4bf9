//! `movs` and `stos` (byte to qword, with or without `rep`) inline: musl's `memcpy` and
//! `memset` are built from them, and the single-instruction helper costs far more than the copy.
//!
//! The inline form runs when the result is exactly what the CPU does, and otherwise the helper
//! runs the instruction:
//!
//! - DF clear (forward), 64-bit addressing, no segment override, no `repne` (`F2`) prefix;
//! - every address at or above 64 KiB (below it the interpreter raises the fault) and the whole
//!   range inside the 32-bit guest window;
//! - `rep movs`: the destination does not start inside the source (a forward element-by-element
//!   copy then equals `memory.copy`, which has memmove semantics);
//! - `rep stos` wider than a byte: the value repeats its low byte (memset's pattern), so that
//!   `memory.fill` stores it.
//!
//! `rep` with a zero count does nothing, as on the CPU; otherwise rcx ends at zero and rsi/rdi
//! past the data. Flags are unchanged.

use iced_x86::{Code, Instruction, OpKind, Register};
use libc_shim::interp::lazy;
use wasm_encoder::Instruction as I;

use super::emit::{F_STORED, Fx, T0};
use super::flags::State;

/// Addresses below this are never mapped (`vm.mmap_min_addr`).
const LOW_LIMIT: i64 = 0x1_0000;
/// The largest `rep` count done inline (larger ones go to the helper, which works in chunks).
const MAX_COUNT: i64 = 1 << 28;

const SRC: u32 = T0;
const DST: u32 = T0 + 1;
const LEN: u32 = T0 + 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Movs,
    Stos,
}

fn classify(ins: &Instruction) -> Option<(Kind, u32)> {
    let (kind, size) = match ins.code() {
        Code::Movsb_m8_m8 => (Kind::Movs, 1),
        Code::Movsw_m16_m16 => (Kind::Movs, 2),
        Code::Movsd_m32_m32 => (Kind::Movs, 4),
        Code::Movsq_m64_m64 => (Kind::Movs, 8),
        Code::Stosb_m8_AL => (Kind::Stos, 1),
        Code::Stosw_m16_AX => (Kind::Stos, 2),
        Code::Stosd_m32_EAX => (Kind::Stos, 4),
        Code::Stosq_m64_RAX => (Kind::Stos, 8),
        _ => return None,
    };
    let plain = ins.has_repne_prefix()
        || ins.segment_prefix() != Register::None
        || (0..ins.op_count()).any(|i| {
            matches!(
                ins.op_kind(i),
                OpKind::MemorySegESI
                    | OpKind::MemorySegSI
                    | OpKind::MemoryESEDI
                    | OpKind::MemoryESDI
            )
        });
    (!plain).then_some((kind, size))
}

impl Fx<'_> {
    /// Lowers `movs`/`stos`; false if `ins` is not one of the forms handled here.
    pub(super) fn lower_string(&mut self, ins: &Instruction, st: &mut State) -> bool {
        let Some((kind, size)) = classify(ins) else {
            return false;
        };
        let rep = ins.has_rep_prefix();
        let window = (1i64 << 32) - i64::from(self.link.guest_base);
        if rep {
            self.get_reg(Register::RCX);
            self.i(I::I64Const(size.trailing_zeros() as i64))
                .i(I::I64Shl);
        } else {
            self.i(I::I64Const(i64::from(size)));
        }
        self.i(I::LocalSet(LEN));
        self.get_reg(Register::RDI);
        self.i(I::LocalSet(DST));
        if kind == Kind::Movs {
            self.get_reg(Register::RSI);
            self.i(I::LocalSet(SRC));
        }
        if rep {
            // Nothing to do for a zero count.
            self.get_reg(Register::RCX);
            self.i(I::I64Const(0)).i(I::I64Ne);
            self.if_();
        }
        // The inline condition.
        self.i(I::LocalGet(F_STORED))
            .i(I::I64Const(lazy::DF as i64))
            .i(I::I64And)
            .i(I::I64Eqz);
        self.in_window(DST, window);
        if kind == Kind::Movs {
            self.in_window(SRC, window);
        }
        if rep {
            self.get_reg(Register::RCX);
            self.i(I::I64Const(MAX_COUNT)).i(I::I64LtU).i(I::I32And);
            match kind {
                // dst <= src || dst >= src + len
                Kind::Movs => {
                    self.i(I::LocalGet(DST))
                        .i(I::LocalGet(SRC))
                        .i(I::I64LeU)
                        .i(I::LocalGet(DST))
                        .i(I::LocalGet(SRC))
                        .i(I::LocalGet(LEN))
                        .i(I::I64Add)
                        .i(I::I64GeU)
                        .i(I::I32Or)
                        .i(I::I32And);
                }
                Kind::Stos if size > 1 => {
                    self.get_reg(Register::RAX);
                    self.mask(size);
                    self.get_reg(Register::AL);
                    self.i(I::I64Const(0x0101_0101_0101_0101)).i(I::I64Mul);
                    self.mask(size);
                    self.i(I::I64Eq).i(I::I32And);
                }
                Kind::Stos => {}
            }
        }
        self.if_();
        self.string_inline(kind, size, rep);
        self.i(I::Else);
        let mut scratch = *st;
        self.helper(ins, &mut scratch);
        self.end();
        if rep {
            self.end();
        }
        true
    }

    /// Pushes (and-ed with the i32 below) whether `[local, local + LEN)` lies at or above 64 KiB
    /// and inside the guest window.
    fn in_window(&mut self, local: u32, window: i64) {
        self.i(I::LocalGet(local))
            .i(I::I64Const(LOW_LIMIT))
            .i(I::I64GeU)
            .i(I::I32And);
        self.i(I::LocalGet(local))
            .i(I::LocalGet(LEN))
            .i(I::I64Add)
            .i(I::I64Const(window))
            .i(I::I64LeU)
            .i(I::I32And);
    }

    /// The copy or fill, then the register updates.
    fn string_inline(&mut self, kind: Kind, size: u32, rep: bool) {
        let gb = i64::from(self.link.guest_base);
        let linear = |fx: &mut Self, local: u32| {
            fx.i(I::LocalGet(local))
                .i(I::I64Const(gb))
                .i(I::I64Add)
                .i(I::I32WrapI64);
        };
        match (kind, rep) {
            (Kind::Movs, true) => {
                linear(self, DST);
                linear(self, SRC);
                self.i(I::LocalGet(LEN)).i(I::I32WrapI64);
                self.i(I::MemoryCopy {
                    src_mem: 0,
                    dst_mem: 0,
                });
            }
            (Kind::Stos, true) => {
                linear(self, DST);
                self.get_reg(Register::AL);
                self.i(I::I32WrapI64);
                self.i(I::LocalGet(LEN)).i(I::I32WrapI64);
                self.i(I::MemoryFill(0));
            }
            (Kind::Movs, false) => {
                self.i(I::LocalGet(DST)).i(I::I32WrapI64);
                self.i(I::LocalGet(SRC)).i(I::I32WrapI64);
                self.load(size);
                self.store(size);
            }
            (Kind::Stos, false) => {
                self.i(I::LocalGet(DST)).i(I::I32WrapI64);
                self.get_reg(Register::RAX);
                self.store(size);
            }
        }
        self.i(I::LocalGet(DST)).i(I::LocalGet(LEN)).i(I::I64Add);
        self.set_reg(Register::RDI);
        if kind == Kind::Movs {
            self.i(I::LocalGet(SRC)).i(I::LocalGet(LEN)).i(I::I64Add);
            self.set_reg(Register::RSI);
        }
        if rep {
            self.i(I::I64Const(0));
            self.set_reg(Register::RCX);
        }
    }
}
